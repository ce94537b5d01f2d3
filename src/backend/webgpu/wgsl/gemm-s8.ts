// WGSL for the int8 GEMM: out[M,N] = α·Σ_k a[m,k]·b[n,k] on operands packed 4 codes per u32 along K
// (PACK_S8_WGSL below makes that layout from any stored one). dot4I8Packed multiplies four code pairs and sums
// them in i32, so the sum is exact (|sum| ≤ 128²·K < 2^31 for K ≤ 131,071, support.ts's S8_MAX_K); α is applied
// once, by round_alpha_product, which rounds α·sum first to f64 and then to f32 as the reference's JavaScript does: the result equals the reference's
// matmul on i8 tensors bit for bit. Tiles: 64×64 outputs, 8 words (32 codes) of K per step, 4×4 per invocation.
//
// α comes from the uniform (a host number, as its f64 mantissa and exponent), or with `scales` from per-tensor
// or per-row scales already on the GPU, applied as src/halo/operand.ts applies them on the host: tensor ×
// tensor folds into α = sa[0]·sb[0] (a 48-bit mantissa formed exactly, one rounding); with a per-row side the
// α = 1 result fround(sum) is multiplied by sa[m]·sb[n] (operand.ts's scaleRowsCols, a second rounding).
import { WGSL_ALPHA_PRODUCT } from './exact.ts';

export interface GemmS8Variant {
  /** Use WGSL's dot4I8Packed (language feature packed_4x8_integer_dot_product); else unpack by shifts. */
  dot4: boolean;
  /** Scales from bindings 4 (A's) and 5 (B's) instead of the uniform's α; rowsA/rowsB: per row of op(A) / op(B). */
  scales: { rowsA: boolean; rowsB: boolean } | null;
}

export function gemmS8Wgsl(v: GemmS8Variant): string {
  const dot = v.dot4
    ? 'fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }'
    : `fn dot4(a: u32, b: u32) -> i32 {
  var s = 0;
  for (var j = 0u; j < 4u; j++) {
    s += (bitcast<i32>(a << (24u - 8u * j)) >> 24u) * (bitcast<i32>(b << (24u - 8u * j)) >> 24u);
  }
  return s;
}`;
  const sc = v.scales;
  const scaleBindings = sc
    ? `@group(0) @binding(4) var<storage, read> SA: array<f32>;
@group(0) @binding(5) var<storage, read> SB: array<f32>;`
    : '';
  let epilogue: string;
  if (!sc) {
    epilogue = 'round_alpha_product(acc[i * 4u + j], P.alo, P.ahi, P.ae, P.aneg != 0u)';
  } else if (!sc.rowsA && !sc.rowsB) {
    epilogue = 'round_alpha_product(acc[i * 4u + j], am.x, am.y, pa.y + pb.y, aneg)';
  } else {
    epilogue = 'row_scaled(acc[i * 4u + j], SA[' + (sc.rowsA ? 'm' : '0u') + '], SB[' + (sc.rowsB ? 'n' : '0u') + '])';
  }
  // α = sa·sb as an exact 48-bit mantissa, once per invocation when both scales are per tensor
  const alpha =
    sc && !sc.rowsA && !sc.rowsB
      ? `let pa = f32_parts(SA[0]);
  let pb = f32_parts(SB[0]);
  let am = mul32(u32(pa.x), u32(pb.x));
  let aneg = (SA[0] < 0.0) != (SB[0] < 0.0);`
      : '';
  const rowScaled =
    sc && (sc.rowsA || sc.rowsB)
      ? `// fround(fround(s)·(ra·rb)), the product ra·rb exact and the second product rounded through f64.
fn row_scaled(s: i32, ra: f32, rb: f32) -> f32 {
  let r1 = round_alpha_product(s, 0u, 0x100000u, -52, false);
  let pv = f32_parts(r1);
  let pa = f32_parts(ra);
  let pb = f32_parts(rb);
  let am = mul32(u32(pa.x), u32(pb.x));
  return round_product(u32(pv.x), pv.y, r1 < 0.0, am.x, am.y, pa.y + pb.y, (ra < 0.0) != (rb < 0.0));
}`
      : '';
  return /* wgsl */ `${v.dot4 ? 'requires packed_4x8_integer_dot_product;\n' : ''}
struct Params { M: u32, N: u32, Kw: u32, alo: u32, ahi: u32, ae: i32, aneg: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<u32>; // [M, Kw]
@group(0) @binding(2) var<storage, read> B: array<u32>; // [N, Kw]
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${scaleBindings}

${WGSL_ALPHA_PRODUCT}
${rowScaled}

${dot}

var<workgroup> As: array<u32, 512>; // [8 words][64 m]
var<workgroup> Bs: array<u32, 512>; // [8 words][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  var acc: array<i32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0; }
  for (var w0 = 0u; w0 < P.Kw; w0 += 8u) {
    for (var t = 0u; t < 2u; t++) {
      let e = li + 256u * t;
      let rr = e / 8u;
      let ww = e % 8u;
      let w = w0 + ww;
      var va = 0u;
      var vb = 0u;
      if (m0 + rr < P.M && w < P.Kw) { va = A[(m0 + rr) * P.Kw + w]; }
      if (n0 + rr < P.N && w < P.Kw) { vb = B[(n0 + rr) * P.Kw + w]; }
      As[ww * 64u + rr] = va;
      Bs[ww * 64u + rr] = vb;
    }
    workgroupBarrier();
    for (var ww = 0u; ww < 8u; ww++) {
      var a: array<u32, 4>;
      var b: array<u32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[ww * 64u + lid.y + 16u * i];
        b[i] = Bs[ww * 64u + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += dot4(a[i], b[j]); }
      }
    }
    workgroupBarrier();
  }
  ${alpha}
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
      if (m < P.M && n < P.N) {
        O[m * P.N + n] = ${epilogue};
      }
    }
  }
}
`;
}

/**
 * Pack int8 codes 4 per u32 along K, zero-padding K to a multiple of 4: dst [R, Kw] from src bytes holding
 * element (r, k) at r·K + k (K contiguous) or, with `transposed`, at k·R + r.
 */
export const PACK_S8_WGSL = /* wgsl */ `
struct Params { R: u32, K: u32, Kw: u32, transposed: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read_write> D: array<u32>;

fn byte_at(i: u32) -> u32 {
  return (S[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + li;
  if (idx >= P.R * P.Kw) { return; }
  let r = idx / P.Kw;
  let w = idx % P.Kw;
  var word = 0u;
  for (var j = 0u; j < 4u; j++) {
    let k = 4u * w + j;
    if (k < P.K) {
      let src = select(r * P.K + k, k * P.R + r, P.transposed != 0u);
      word |= byte_at(src) << (8u * j);
    }
  }
  D[idx] = word;
}
`;
