// The model's float ops, each an explicit forward/backward pair over typed arrays: the oracle native kernels
// must match, and what training runs on until they exist.
export { embeddingForward, embeddingBackward } from './embedding.ts';
export { addRmsnormForward, rmsnormBackwardAdd, rmsnormForward, rmsnormBackward, type RmsNormOut } from './rmsnorm.ts';
export { ropeInvFreq, ropeTables, ropeForward, ropeBackward, type Llama3Scaling, type RopeTables } from './rope.ts';
export {
  attentionForward,
  attentionBackward,
  attentionDecode,
  type AttentionOptions,
  type AttentionOut,
  type AttentionGrads,
  type KeyMask,
} from './attention.ts';
export { createKvCache, kvCacheAppend, type KvCache } from './kv-cache.ts';
export { swigluForward, swigluBackward } from './swiglu.ts';
export {
  crossEntropyForward,
  crossEntropyBackward,
  IGNORE_INDEX,
  type CrossEntropyOptions,
  type CrossEntropyOut,
} from './cross-entropy.ts';
export { linearForward, linearBackward } from './matmul.ts';
export { add, addInPlace } from './elementwise.ts';
