// Load-balancing (auxiliary) and z losses in Megatron-Core's form (moe_utils.py:
// switch_load_balancing_loss_func, z_loss_func): 1.0 at perfect balance, no coefficient applied.
// Hugging Face's Mixtral-family value is k times `aux`.
import { topKIndices } from './topk.js';

/**
 * aux = E/(k·T²) · Σ_e (Σ_t P_te) · N_e over the tokens [first, first + count), where N counts a plain
 * top-k on P (no groups, bias or capacity).
 */
function auxOver(lossProbs: ArrayLike<number>, first: number, count: number, nExpert: number, k: number): number {
  const sumP = new Float64Array(nExpert);
  const counts = new Float64Array(nExpert);
  const chosen = new Int32Array(k);
  const row = new Float64Array(nExpert);
  for (let t = first; t < first + count; t++) {
    for (let e = 0; e < nExpert; e++) {
      row[e] = lossProbs[t * nExpert + e];
      sumP[e] += row[e];
    }
    topKIndices(row, nExpert, k, chosen);
    for (let j = 0; j < k; j++) counts[chosen[j]]++;
  }
  let acc = 0;
  for (let e = 0; e < nExpert; e++) acc += sumP[e] * counts[e];
  return (nExpert / (k * count * count)) * acc;
}

/** The aux loss over the whole call, and per sequence averaged when sequenceLength S is given (row = b·S + s). */
export function auxLosses(
  lossProbs: ArrayLike<number>, // [nToken, nExpert] softmax (or sum-normalised) scores
  nToken: number,
  nExpert: number,
  k: number,
  sequenceLength?: number,
): { aux: number; seqAux?: number } {
  const aux = auxOver(lossProbs, 0, nToken, nExpert, k);
  if (sequenceLength === undefined) return { aux };
  const nSequence = nToken / sequenceLength;
  let seq = 0;
  for (let b = 0; b < nSequence; b++) seq += auxOver(lossProbs, b * sequenceLength, sequenceLength, nExpert, k);
  return { aux, seqAux: seq / nSequence };
}

/** z = mean_t (logsumexp_e z_te)², the router z-loss of ST-MoE. */
export function zLoss(logits: Float32Array, nToken: number, nExpert: number): number {
  let acc = 0;
  for (let t = 0; t < nToken; t++) {
    let max = -Infinity;
    for (let e = 0; e < nExpert; e++) max = Math.max(max, logits[t * nExpert + e]);
    let sum = 0;
    for (let e = 0; e < nExpert; e++) sum += Math.exp(logits[t * nExpert + e] - max);
    const lse = max + Math.log(sum);
    acc += lse * lse;
  }
  return nToken > 0 ? acc / nToken : 0;
}
