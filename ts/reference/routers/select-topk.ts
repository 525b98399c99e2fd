// Token-choice top-k selection: selection keys = scores + selectionBias, optionally limited to the best
// groups of experts; weights = the unbiased scores at the chosen experts, renormalised and scaled.
import type { ResolvedGroups, ResolvedScoring } from '../../spec/router-spec.js';
import { topKIndices } from '../topk.js';

/** Megatron-Core and HF DeepSeek add this before dividing by the sum of the kept scores. */
export const RENORM_EPSILON = 1e-20;

/** The best groups.topk groups of one token by group score; every expert outside them gets −∞. */
function maskToBestGroups(keys: Float64Array, groupKeys: ArrayLike<number>, offset: number, nExpert: number, g: ResolvedGroups): void {
  const size = nExpert / g.count;
  const groupScore = new Float64Array(g.count);
  const member = new Float64Array(size);
  const order = new Int32Array(size);
  for (let i = 0; i < g.count; i++) {
    for (let m = 0; m < size; m++) member[m] = groupKeys[offset + i * size + m];
    topKIndices(member, size, g.scoreTopN, order);
    let sum = 0;
    for (let j = 0; j < g.scoreTopN; j++) sum += member[order[j]];
    groupScore[i] = sum;
  }
  const kept = new Int32Array(g.topk);
  topKIndices(groupScore, g.count, g.topk, kept);
  const keep = new Uint8Array(g.count);
  for (const i of kept) keep[i] = 1;
  for (let e = 0; e < nExpert; e++) if (!keep[Math.floor(e / size)]) keys[e] = -Infinity;
}

export interface TopKSelection {
  indices: Int32Array; // [nToken, k]
  weights: Float32Array; // [nToken, k]
}

export function selectTopK(
  scores: Float64Array, // [nToken, nExpert] after the score function
  logits: ArrayLike<number>, // [nToken, nExpert] raw, for groups scored on logits
  nToken: number,
  nExpert: number,
  k: number,
  scoring: ResolvedScoring,
  selectionBias: Float32Array | undefined,
  groups: ResolvedGroups | undefined,
): TopKSelection {
  const indices = new Int32Array(nToken * k);
  const weights = new Float32Array(nToken * k);
  const keys = new Float64Array(nExpert);
  for (let t = 0; t < nToken; t++) {
    const base = t * nExpert;
    for (let e = 0; e < nExpert; e++) keys[e] = scores[base + e] + (selectionBias ? selectionBias[e] : 0);
    if (groups) maskToBestGroups(keys, groups.on === 'logits' ? logits : keys, groups.on === 'logits' ? base : 0, nExpert, groups);
    topKIndices(keys, nExpert, k, indices, t * k);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += scores[base + indices[t * k + j]];
    const divisor = scoring.normalize ? sum + RENORM_EPSILON : 1;
    for (let j = 0; j < k; j++) weights[t * k + j] = (scores[base + indices[t * k + j]] / divisor) * scoring.scale;
  }
  return { indices, weights };
}
