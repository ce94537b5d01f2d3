// WGSL for absmax quantization as src/quant/quantize.ts defines it, in four small kernels:
//   absmax (per tensor, or per row / 1×32 block / 32×32 tile of the output O = x or xᵀ): max |x| as f32 bits (non-negative floats order
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

/** Which scale an element (i, c) of O [R, C] uses (U.mode: 0 tensor, 1 row, 2 block32, 3 tile32; U.nb = ceil(C/32)). */
const SCALE_INDEX = /* wgsl */ `
fn scale_index(i: u32, c: u32) -> u32 {
  switch (U.mode) {
    case 1u: { return i; }
    case 2u: { return i * U.nb + c / 32u; }
    case 3u: { return (i / 32u) * U.nb + c / 32u; }
    default: { return 0u; }
  }
}
`;

/**
 * Absmax per group of O [R, C] — a row, a 1×32 block or a 32×32 tile (U.mode 1, 2, 3) — one workgroup per
 * group. O = X (X [R, C]) or, with transposed, Xᵀ (X [C, R]), whose row i is X's column i.
 */
export const ABSMAX_GROUPS_WGSL = /* wgsl */ `
struct Params { R: u32, C: u32, transposed: u32, mode: u32, nb: u32, groups: u32, _p0: u32, _p1: u32 }
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
  if (g >= U.groups) { return; }
  if (li == 0u) {
    atomicStore(&wmax, 0u);
    atomicStore(&wbad, 0u);
  }
  workgroupBarrier();
  // the group's first element and extent
  var i0 = g;
  var c0 = 0u;
  var h = 1u;
  var w = U.C;
  if (U.mode == 2u) {
    i0 = g / U.nb;
    c0 = (g % U.nb) * 32u;
    w = min(32u, U.C - c0);
  } else if (U.mode == 3u) {
    i0 = (g / U.nb) * 32u;
    c0 = (g % U.nb) * 32u;
    h = min(32u, U.R - i0);
    w = min(32u, U.C - c0);
  }
  var m = 0u;
  var bad = 0u;
  for (var t = li; t < h * w; t += 256u) {
    let i = i0 + t / w;
    let c = c0 + t % w;
    let x = select(X[i * U.C + c], X[c * U.R + i], U.transposed != 0u);
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
struct Params { R: u32, C: u32, transposed: u32, mode: u32, nb: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> U: Params;
${SCALE_INDEX}
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
      let s = SC[scale_index(i, c)];
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
struct Params { R: u32, C: u32, transposed: u32, mode: u32, nb: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> U: Params;
${SCALE_INDEX}
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
  O[idx] = SC[scale_index(idx / U.C, idx % U.C)] * decode(code);
}
`;
}
