// Training must not leave NaN/Inf in the weights: the run counts the non-finite values of each trainable
// tensor at its start (weights loaded with --allow-nonfinite are not its doing) and refuses to checkpoint or
// finish with more, so a diverged run never writes over its last good checkpoint.
import { HaloError } from '../core/errors.ts';
import { countNonFinite } from '../core/finite.ts';
import type { Param } from '../models/causal-lm.ts';
import type { TrainParallel } from './parallel.ts';

/** Non-finite values per trainable parameter (summed over ranks). */
export function countNonFiniteParams(trainable: readonly Param[], par: TrainParallel | undefined): Float64Array {
  const counts = Float64Array.from(trainable, (p) => countNonFinite(p.data, p.data instanceof Float64Array ? 'f64' : 'f32').count);
  par?.sum(counts);
  return counts;
}

/** E_NUMERIC when training made some weight non-finite: nothing is saved over the last good checkpoint. */
export function checkFinite(trainable: readonly Param[], atStart: Float64Array, step: number, outDir: string, par: TrainParallel | undefined): void {
  const now = countNonFiniteParams(trainable, par);
  const bad = trainable.map((p, i) => ({ name: p.name, n: now[i] - atStart[i] })).filter((b) => b.n > 0);
  if (bad.length === 0) return;
  const first = bad[0];
  throw new HaloError(
    'E_NUMERIC',
    `after step ${step} ${bad.length} weight tensor${bad.length === 1 ? '' : 's'} hold non-finite values (${first.name}: ${first.n} NaN/Inf${bad.length > 1 ? `; ${bad[1].name}, …` : ''}); ` +
      `nothing was saved over ${outDir}'s last checkpoint. Lower the learning rate, keep --max-grad-norm on, or use a wider format.`,
  );
}
