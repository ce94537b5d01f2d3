// WGSL for absmax quantization as src/quant/quantize.ts defines it, in four small kernels:
//   absmax (per tensor, or per row of the output O = x or xᵀ): max |x| as f32 bits (non-negative floats order
//     like their bit patterns, so atomicMax on u32 is an exact max), and a count of NaN/±inf values (the
//     reference throws E_NUMERIC for those; the host reads the count and throws the same);
//   scales: the codec's scale_of(absmax) — fround(absmax/qmax) exactly, 1 for an all-zero group, with
//     unitScale or for bf16;
//   quantize: the codec's encode(x, scale), codes packed into u32 words in the output's row-major order,
//     reading x transposed for transposeOut;
//   dequantize: scale·decode(code), one correctly rounded f32 product — the reference's f64 product rounded once.
// The codec (codecs.ts) is spliced in, so each format is its own pipeline.
import type { WgslCodec } from './codecs.ts';

/** Per-tensor absmax: grid-stride over all values, a workgroup max, one global atomicMax per workgroup. */
export const ABSMAX_TENSOR_WGSL = /* wgsl */ `
struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> AMAX: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> BAD: array<atomic<u32>>;
var<workgroup> wmax: atomic<u32>;
var<workgroup> wbad: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  if (li == 0u) {
    atomicStore(&wmax, 0u);
    atomicStore(&wbad, 0u);
  }
  workgroupBarrier();
  let stride = nwg.x * nwg.y * 256u;
  var m = 0u;
  var bad = 0u;
  for (var i = (wid.x + wid.y * nwg.x) * 256u + li; i < U.count; i += stride) {
    let b = bitcast<u32>(X[i]) & 0x7fffffffu;
    if (b >= 0x7f800000u) { bad += 1u; } else { m = max(m, b); }
  }
  atomicMax(&wmax, m);
  atomicAdd(&wbad, bad);
  workgroupBarrier();
  if (li == 0u) {
    atomicMax(&AMAX[0], atomicLoad(&wmax));
    atomicAdd(&BAD[0], atomicLoad(&wbad));
  }
}
`;

/**
 * Per-row absmax of O [R, C]: one workgroup per row. O = X (X [R, C]) or, with transposed, Xᵀ (X [C, R]), whose
 * row g is X's column g.
 */
export const ABSMAX_ROWS_WGSL = /* wgsl */ `
struct Params { R: u32, C: u32, transposed: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> AMAX: array<u32>;
@group(0) @binding(3) var<storage, read_write> BAD: array<atomic<u32>>;
var<workgroup> wmax: atomic<u32>;
var<workgroup> wbad: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= U.R) { return; }
  if (li == 0u) {
    atomicStore(&wmax, 0u);
    atomicStore(&wbad, 0u);
  }
  workgroupBarrier();
  var m = 0u;
  var bad = 0u;
  for (var j = li; j < U.C; j += 256u) {
    let x = select(X[g * U.C + j], X[j * U.R + g], U.transposed != 0u);
    let b = bitcast<u32>(x) & 0x7fffffffu;
    if (b >= 0x7f800000u) { bad += 1u; } else { m = max(m, b); }
  }
  atomicMax(&wmax, m);
  atomicAdd(&wbad, bad);
  workgroupBarrier();
  if (li == 0u) {
    AMAX[g] = atomicLoad(&wmax);
    atomicAdd(&BAD[0], atomicLoad(&wbad));
  }
}
`;

/** scales[g] from absmax bits (or 1 with unitScale). */
export function scalesWgsl(codec: WgslCodec): string {
  return /* wgsl */ `
struct Params { G: u32, unitScale: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> AMAX: array<u32>;
@group(0) @binding(2) var<storage, read_write> SC: array<f32>;
${codec.wgsl}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = (wid.x + wid.y * nwg.x) * 256u + li;
  if (g >= U.G) { return; }
  SC[g] = select(scale_of(AMAX[g]), 1.0, U.unitScale != 0u);
}
`;
}

/** Codes of O [R, C] (O = X, or Xᵀ with transposed), codec.perWord per u32 word in row-major order. */
export function quantizeWgsl(codec: WgslCodec): string {
  const per = codec.perWord;
  const width = 32 / per;
  return /* wgsl */ `
struct Params { R: u32, C: u32, transposed: u32, perRow: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> SC: array<f32>;
@group(0) @binding(3) var<storage, read_write> Q: array<u32>;
${codec.wgsl}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let w = (wid.x + wid.y * nwg.x) * 256u + li;
  let total = U.R * U.C;
  if (w * ${per}u >= total) { return; }
  var word = 0u;
  for (var j = 0u; j < ${per}u; j++) {
    let idx = w * ${per}u + j;
    if (idx < total) {
      let i = idx / U.C;
      let c = idx % U.C;
      let x = select(X[idx], X[c * U.R + i], U.transposed != 0u);
      let s = SC[select(0u, i, U.perRow != 0u)];
      word |= encode(x, s) << (${width}u * j);
    }
  }
  Q[w] = word;
}
`;
}

/** out [R, C] = scale·decode(code) for codes packed codec.perWord per word. */
export function dequantizeWgsl(codec: WgslCodec): string {
  const per = codec.perWord;
  const width = 32 / per;
  return /* wgsl */ `
struct Params { R: u32, C: u32, perRow: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> Q: array<u32>;
@group(0) @binding(2) var<storage, read> SC: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${codec.wgsl}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + li;
  if (idx >= U.R * U.C) { return; }
  let code = (Q[idx / ${per}u] >> (${width}u * (idx % ${per}u))) & ${per === 4 ? '0xffu' : '0xffffu'};
  O[idx] = SC[select(0u, idx / U.C, U.perRow != 0u)] * decode(code);
}
`;
}
