// Score functions over router logits, in f64: softmax over the experts of a token, or elementwise
// sigmoid / sqrt(softplus) (DeepSeek-V3 and V4).
import type { ScoreFunction } from '../../spec/types.js';

/** Above this, softplus(z) = z to f32 precision; torch's default threshold, kept for fidelity. */
const SOFTPLUS_LINEAR_ABOVE = 20;

function softplus(z: number): number {
  return z > SOFTPLUS_LINEAR_ABOVE ? z : Math.log1p(Math.exp(z));
}

/** s = score(z) for every row of logits [nToken, nExpert]; returns [nToken, nExpert] in f64. */
export function scoreLogits(logits: ArrayLike<number>, nToken: number, nExpert: number, score: ScoreFunction): Float64Array {
  const s = new Float64Array(nToken * nExpert);
  for (let t = 0; t < nToken; t++) {
    const base = t * nExpert;
    if (score === 'softmax') {
      let max = -Infinity;
      for (let e = 0; e < nExpert; e++) max = Math.max(max, logits[base + e]);
      let sum = 0;
      for (let e = 0; e < nExpert; e++) sum += s[base + e] = Math.exp(logits[base + e] - max);
      for (let e = 0; e < nExpert; e++) s[base + e] /= sum;
    } else if (score === 'sigmoid') {
      for (let e = 0; e < nExpert; e++) s[base + e] = 1 / (1 + Math.exp(-logits[base + e]));
    } else {
      for (let e = 0; e < nExpert; e++) s[base + e] = Math.sqrt(softplus(logits[base + e]));
    }
  }
  return s;
}

/**
 * The distribution the aux loss reads: softmax scores as they are; sigmoid and sqrt-softplus scores
 * divided by their sum over the experts (+1e-20), as Megatron-Core's compute_routing_scores_for_aux_loss.
 */
export function lossDistribution(scores: Float64Array, nToken: number, nExpert: number, score: ScoreFunction): Float64Array {
  if (score === 'softmax') return scores;
  const p = new Float64Array(scores.length);
  for (let t = 0; t < nToken; t++) {
    let sum = 0;
    for (let e = 0; e < nExpert; e++) sum += scores[t * nExpert + e];
    for (let e = 0; e < nExpert; e++) p[t * nExpert + e] = scores[t * nExpert + e] / (sum + 1e-20);
  }
  return p;
}
