// WGSL for out[M,N] = α·op(A)·op(B) on f32 (backend.ts's GemmOptions layouts): 64×64 output tiles, 16-deep
// K slices staged in workgroup memory, each of the 256 invocations holding a 4×4 block of f32 accumulators.
// Every output sums its K products in order k = 0, 1, …, so the error against the reference's f64 sum is the
// plain recursive-summation bound (docs/browser.md states the tolerance the conformance test checks).
// The operand layouts are compile-time: each (aT, bT) pair is its own pipeline, the tile loads indexed for it.

export const GEMM_TILE = 64;

export function gemmF32Wgsl(aT: boolean, bT: boolean): string {
  // Tile element e (0..1023) → (kk, mm) of A's tile, loaded along the operand's contiguous dimension.
  const loadA = aT
    ? 'let kk = e / 64u; let mm = e % 64u; let m = m0 + mm; let k = k0 + kk; if (m < P.M && k < P.K) { v = A[k * P.M + m]; }'
    : 'let mm = e / 16u; let kk = e % 16u; let m = m0 + mm; let k = k0 + kk; if (m < P.M && k < P.K) { v = A[m * P.K + k]; }';
  const loadB = bT
    ? 'let nn = e / 16u; let kk = e % 16u; let n = n0 + nn; let k = k0 + kk; if (n < P.N && k < P.K) { v = B[n * P.K + k]; }'
    : 'let kk = e / 64u; let nn = e % 64u; let n = n0 + nn; let k = k0 + kk; if (n < P.N && k < P.K) { v = B[k * P.N + n]; }';
  return /* wgsl */ `
struct Params { M: u32, N: u32, K: u32, alpha: f32, useAlpha: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

var<workgroup> As: array<f32, 1024>; // [16 k][64 m]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * 64u;
  let n0 = wid.x * 64u;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < P.K; k0 += 16u) {
    for (var t = 0u; t < 4u; t++) {
      let e = li + 256u * t;
      {
        var v = 0.0;
        ${loadA}
        As[kk * 64u + mm] = v;
      }
      {
        var v = 0.0;
        ${loadB}
        Bs[kk * 64u + nn] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[kk * 64u + lid.y + 16u * i];
        b[i] = Bs[kk * 64u + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
      if (m < P.M && n < P.N) {
        let s = acc[i * 4u + j];
        O[m * P.N + n] = select(s, P.alpha * s, P.useAlpha != 0u);
      }
    }
  }
}
`;
}
