// The dispatch plan: a counting sort of the (token, slot) assignments by expert. Every router ends
// here, and expert execution only ever reads this.
import type { DispatchPlan } from '../spec/types.js';

export function buildPlan(
  indices: Int32Array, // [nToken, nExpertUsed], −1 = no expert
  weights: Float32Array, // [nToken, nExpertUsed]
  nToken: number,
  nExpertUsed: number,
  nExpert: number,
): DispatchPlan {
  const offsets = new Int32Array(nExpert + 1);
  for (let s = 0; s < nToken * nExpertUsed; s++) if (indices[s] >= 0) offsets[indices[s] + 1]++;
  for (let e = 0; e < nExpert; e++) offsets[e + 1] += offsets[e];
  const nRow = offsets[nExpert];
  const rows = new Int32Array(nRow);
  const planWeights = new Float32Array(nRow);
  const slots = new Int32Array(nRow);
  const cursor = offsets.slice(0, nExpert);
  // Scanning slots in order keeps each expert's rows in ascending token order.
  for (let s = 0; s < nToken * nExpertUsed; s++) {
    const e = indices[s];
    if (e < 0) continue;
    const r = cursor[e]++;
    rows[r] = Math.floor(s / nExpertUsed);
    planWeights[r] = weights[s];
    slots[r] = s;
  }
  return { offsets, rows, weights: planWeights, slots };
}
