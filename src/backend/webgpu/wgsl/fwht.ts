// WGSL for the Hadamard rotation of a HadamardPlan, doing exactly the reference's operations in the reference's
// order (src/hadamard/transform.ts): per block of b = K·P values, (1) the unnormalised natural-order FWHT
// over each of the K chunks of P (butterflies a+b, a−b at strides 1, 2, 4, …), (2) the ±1 H_K mix accumulated
// from 0 in order l = 0…K−1 (H_Kᵀ when transposing), (3) the product with s = fround(1/√b). WGSL rounds f32
// +, −, × correctly and none of these can be fused into an fma, so the result matches the reference bit for
// bit (subnormals aside, which WGSL may flush).
//
// A "vector" is one block of one row (right side: contiguous) or of one column (left side: stride = cols).
// Blocks up to SHARED_BLOCK values go through workgroup memory in one dispatch (several small blocks per
// workgroup); larger ones run the FWHT stages in place in global memory, one dispatch per stage, then mix.

/** Largest block the workgroup-memory kernel takes: 4096 f32 = 16 KiB, half the 32 KiB a WebGPU device may limit us to. */
export const SHARED_BLOCK = 4096;

/** Uniform shared by the rotation kernels (12 u32-sized fields). */
const PARAMS = /* wgsl */ `
struct Params {
  vectors: u32,   // blocks to rotate (rows·n/b on the right, (n/b)·cols on the left)
  block: u32,     // b
  K: u32,
  P: u32,         // b / K
  right: u32,     // 1: vectors are contiguous runs; 0: columns of an [n, cols] matrix
  cols: u32,      // left side: the matrix's columns
  vpw: u32,       // vectors per workgroup (shared kernel)
  transpose: u32, // mix with H_Kᵀ
  scale: f32,     // fround(1/√b)
  h: u32,         // butterfly half-stride (global stage kernel)
  _p0: u32,
  _p1: u32,
}
@group(0) @binding(0) var<uniform> U: Params;

// Element i of vector v.
fn addr(v: u32, i: u32) -> u32 {
  if (U.right != 0u) { return v * U.block + i; }
  let bRow = v / U.cols;
  let c = v % U.cols;
  return (bRow * U.block + i) * U.cols + c;
}
`;

/** H_K[k][l], or H_K[l][k] when transposing (binding 3 holds H_K as i32, row-major). */
const HK = /* wgsl */ `
@group(0) @binding(3) var<storage, read> H: array<i32>;
fn hk(k: u32, l: u32) -> i32 {
  return select(H[k * U.K + l], H[l * U.K + k], U.transpose != 0u);
}
`;

/** One dispatch: load ≤ SHARED_BLOCK values per workgroup, FWHT in workgroup memory, mix + scale on the way out. */
export const FWHT_SHARED_WGSL = /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${PARAMS}
${HK}
var<workgroup> S: array<f32, ${SHARED_BLOCK}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let v0 = (wid.x + wid.y * nwg.x) * U.vpw;
  if (v0 >= U.vectors) { return; }
  let count = min(U.vpw, U.vectors - v0);
  let total = count * U.block;
  for (var e = li; e < total; e += 256u) { S[e] = X[addr(v0 + e / U.block, e % U.block)]; }
  workgroupBarrier();
  let half = U.P / 2u;
  let perVec = U.K * half;
  let pairs = count * perVec;
  for (var h = 1u; h < U.P; h *= 2u) {
    for (var t = li; t < pairs; t += 256u) {
      let vv = t / perVec;
      let rem = t % perVec;
      let k = rem / half;
      let q = rem % half;
      let u = vv * U.block + k * U.P + (q / h) * 2u * h + q % h;
      let a = S[u];
      let b = S[u + h];
      S[u] = a + b;
      S[u + h] = a - b;
    }
    workgroupBarrier();
  }
  for (var e = li; e < total; e += 256u) {
    let vv = e / U.block;
    let i = e % U.block;
    var y: f32;
    if (U.K == 1u) {
      y = S[e];
    } else {
      let k = i / U.P;
      let j = i % U.P;
      var acc = 0.0;
      for (var l = 0u; l < U.K; l++) {
        let u = S[vv * U.block + l * U.P + j];
        acc = select(acc - u, acc + u, hk(k, l) > 0);
      }
      y = acc;
    }
    Y[addr(v0 + vv, i)] = y * U.scale;
  }
}
`;

/** One butterfly stage (half-stride U.h) in place on Y, one invocation per pair. */
export const FWHT_STAGE_WGSL = /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${PARAMS}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nwg.x) * 256u + li;
  let half = U.P / 2u;
  let perVec = U.K * half;
  if (t >= U.vectors * perVec) { return; }
  let v = t / perVec;
  let rem = t % perVec;
  let k = rem / half;
  let q = rem % half;
  let i = k * U.P + (q / U.h) * 2u * U.h + q % U.h;
  let pu = addr(v, i);
  let pv = addr(v, i + U.h);
  let a = Y[pu];
  let b = Y[pv];
  Y[pu] = a + b;
  Y[pv] = a - b;
}
`;

/** After the global stages: Z = mix(Y)·s (or Y·s when K = 1), one invocation per value. */
export const FWHT_MIX_WGSL = /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
${PARAMS}
${HK}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let t = (wid.x + wid.y * nwg.x) * 256u + li;
  if (t >= U.vectors * U.block) { return; }
  let v = t / U.block;
  let i = t % U.block;
  var y: f32;
  if (U.K == 1u) {
    y = X[addr(v, i)];
  } else {
    let k = i / U.P;
    let j = i % U.P;
    var acc = 0.0;
    for (var l = 0u; l < U.K; l++) {
      let u = X[addr(v, l * U.P + j)];
      acc = select(acc - u, acc + u, hk(k, l) > 0);
    }
    y = acc;
  }
  Y[addr(v, i)] = y * U.scale;
}
`;
