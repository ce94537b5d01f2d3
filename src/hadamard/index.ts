// Public API of the Hadamard module: finite fields, ±1 Hadamard matrices, rotation plans and transforms.
export { GF, gf, primePower, MAX_FIELD_ORDER } from './gf.ts';
export {
  hadamardMatrix,
  hadamardConstruction,
  hasHadamardMatrix,
  sylvester,
  kroneckerDouble,
  paley1,
  paley2,
  isPow2,
  MAX_ORDER,
} from './matrices.ts';
export { williamsonArray, williamsonRows, searchWilliamson, isWilliamson, type WilliamsonRows } from './williamson.ts';
export {
  planHadamard,
  decompose,
  isSupportedOrder,
  nextSupportedOrder,
  previousSupportedOrder,
  supportedOrders,
  factorize,
  MIN_AUTO_BLOCK,
  type HadamardPlan,
  type PlanOptions,
} from './plan.ts';
export { fwht, rightHadamard, leftHadamard, denseHadamard } from './transform.ts';
