// The aux-loss-free balancing rule (Wang et al. 2024, arXiv 2408.15664; Megatron-Core
// _update_router_expert_bias): b_e += rate · sign(mean − N_e), no re-centring, sign(0) = 0.
import { SwitchyardError, describe } from '../errors.js';
import { allFinite, finiteNumber } from '../spec/check.js';

/**
 * Updates a selection bias in place from one window's expert load and returns it.
 *
 * @example
 * const bias = new Float32Array(64);
 * updateExpertBias(bias, routing.stats.load); // then route with selectionBias: bias
 */
export function updateExpertBias(bias: Float32Array, load: ArrayLike<number>, rate = 1e-3): Float32Array {
  if (!(bias instanceof Float32Array)) throw new SwitchyardError('dtype', 'bias', `expected a Float32Array [nExpert], received ${describe(bias)}`);
  if (load === null || typeof load !== 'object' || load.length !== bias.length) {
    throw new SwitchyardError('shape', 'load', `expected ${bias.length} counts (one per expert), received ${describe(load)}`);
  }
  finiteNumber(rate, 'rate');
  if (rate < 0) throw new SwitchyardError('range', 'rate', `expected a rate ≥ 0 (a negative one pushes the load away from balance), received ${rate}`);
  allFinite(bias, 'bias', `[${bias.length}]`);
  let total = 0;
  for (let e = 0; e < load.length; e++) {
    if (!Number.isFinite(load[e]) || load[e] < 0) throw new SwitchyardError('range', 'load', `expected non-negative counts, received ${load[e]} at expert ${e}`);
    total += load[e];
  }
  const mean = total / load.length;
  for (let e = 0; e < bias.length; e++) bias[e] += rate * Math.sign(mean - load[e]);
  return bias;
}
