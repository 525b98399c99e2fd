// The dispatch plan: a counting sort of the (token, slot) assignments by expert. Every router ends
// here, and expert execution only ever reads this.
import type { DispatchPlan } from '../spec/types.js';

/** Rows that fill an expert up to its capacity: weight 0, slot −1 (DESIGN.md §3 padToCapacity). */
export interface PlanPadding {
  expert: number[];
  token: number[];
}

export function buildPlan(
  indices: Int32Array, // [nToken, nExpertUsed], −1 = no expert
  weights: Float32Array, // [nToken, nExpertUsed]
  nToken: number,
  nExpertUsed: number,
  nExpert: number,
  padding?: PlanPadding,
): DispatchPlan {
  if (padding && padding.expert.length > 0) return withPadding(buildPlan(indices, weights, nToken, nExpertUsed, nExpert), padding, nExpert);
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

/** Merges padding rows into a plan, keeping every expert's rows in ascending token order. */
function withPadding(plan: DispatchPlan, padding: PlanPadding, nExpert: number): DispatchPlan {
  const perExpert: { token: number; weight: number; slot: number }[][] = Array.from({ length: nExpert }, () => []);
  for (let e = 0; e < nExpert; e++) {
    for (let r = plan.offsets[e]; r < plan.offsets[e + 1]; r++) perExpert[e].push({ token: plan.rows[r], weight: plan.weights[r], slot: plan.slots[r] });
  }
  padding.expert.forEach((e, i) => perExpert[e].push({ token: padding.token[i], weight: 0, slot: -1 }));
  const nRow = plan.rows.length + padding.expert.length;
  const out: DispatchPlan = { offsets: new Int32Array(nExpert + 1), rows: new Int32Array(nRow), weights: new Float32Array(nRow), slots: new Int32Array(nRow) };
  let r = 0;
  for (let e = 0; e < nExpert; e++) {
    for (const row of perExpert[e].sort((a, b) => a.token - b.token)) {
      out.rows[r] = row.token;
      out.weights[r] = row.weight;
      out.slots[r] = row.slot;
      r++;
    }
    out.offsets[e + 1] = r;
  }
  return out;
}
