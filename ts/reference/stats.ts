// The numbers that tell a router's health, from its result (DESIGN.md §3 "Routing"). Computed once in
// TypeScript for every path: they are O(T·E), negligible beside the experts.
import type { DispatchPlan, RoutingStats } from '../spec/types.js';

/** Normalised entropy H(p)/ln n of a distribution given by non-negative masses; 0 when n ≤ 1. */
export function normalizedEntropy(mass: ArrayLike<number>, offset: number, n: number): number {
  if (n <= 1) return 0;
  let total = 0;
  for (let i = 0; i < n; i++) total += mass[offset + i];
  if (!(total > 0)) return 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    const p = mass[offset + i] / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h / Math.log(n);
}

export function routingStats(
  plan: DispatchPlan,
  distribution: Float32Array | Float64Array, // [nToken, nExpert] the router's scores per token (any positive scale)
  nToken: number,
  nExpert: number,
  nExpertUsed: number,
  routedBeforeCapacity: number, // assignments the selection made before any capacity drop
): RoutingStats {
  const load = new Int32Array(nExpert);
  for (let e = 0; e < nExpert; e++) {
    for (let r = plan.offsets[e]; r < plan.offsets[e + 1]; r++) if (plan.slots[r] >= 0) load[e]++;
  }
  let total = 0;
  let max = 0;
  let dead = 0;
  for (let e = 0; e < nExpert; e++) {
    total += load[e];
    max = Math.max(max, load[e]);
    if (load[e] === 0) dead++;
  }
  const mean = total / nExpert;
  let variance = 0;
  for (let e = 0; e < nExpert; e++) variance += (load[e] - mean) ** 2;
  variance /= nExpert;
  let tokenEntropy = 0;
  for (let t = 0; t < nToken; t++) tokenEntropy += normalizedEntropy(distribution, t * nExpert, nExpert);
  const dropped = routedBeforeCapacity - total;
  const slotCount = nToken * nExpertUsed;
  return {
    load,
    dropped,
    droppedFraction: slotCount > 0 ? dropped / slotCount : 0,
    tokenEntropy: nToken > 0 ? tokenEntropy / nToken : 0,
    loadEntropy: normalizedEntropy(load, 0, nExpert),
    maxOverMean: mean > 0 ? max / mean : 0,
    // Variance computed directly (not through a std of a std) so perfect balance gives exactly 0.
    cv: mean > 0 ? Math.sqrt(variance) / mean : 0,
    deadExperts: dead,
  };
}
