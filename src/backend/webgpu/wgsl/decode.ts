// WGSL that widens float codes to f32 so their GEMM can run on the f32 kernel: bf16 (2 per u32 word; the value
// is the code shifted into an f32's top half) and the 8/6-bit minifloats (1 per byte, looked up in the codec's
// 256-entry decode table from src/quant, so the values are the reference's exactly). The reference decodes
// the same way and sums exact products in f64; here products of decoded codes are exact in f32 (≤ 8-bit
// significands) and only the f32 sum rounds, so the f32 GEMM's tolerance applies unchanged.

export function decodeWgsl(bf16: boolean): string {
  const body = bf16
    ? 'D[idx] = bitcast<f32>(((S[idx >> 1u] >> ((idx & 1u) * 16u)) & 0xffffu) << 16u);'
    : 'D[idx] = T[(S[idx >> 2u] >> ((idx & 3u) * 8u)) & 0xffu];';
  return /* wgsl */ `
struct Params { count: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> U: Params;
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;
${bf16 ? '' : '@group(0) @binding(3) var<storage, read> T: array<f32>;'}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.x + wid.y * nwg.x) * 256u + li;
  if (idx >= U.count) { return; }
  ${body}
}
`;
}
