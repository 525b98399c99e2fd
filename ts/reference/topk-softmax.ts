// Reference token-choice router with softmax scores (Mixtral, Qwen, OLMoE): softmax over all E,
// top-k by score, optional renormalisation over the k, then scaling.
import type { TopKSoftmaxArgs, TopKSoftmaxResult } from '../backends/backend.js';
import { softmaxRow } from './softmax.js';
import { topKIndices } from './topk.js';

/** The +1e-20 of Megatron-Core and HF DeepSeek: keeps an all-zero selection finite. */
export const RENORM_EPSILON = 1e-20;

export function topKSoftmax({ logits, nToken, nExpert, nExpertUsed: k, normalize, scale }: TopKSoftmaxArgs): TopKSoftmaxResult {
  const probs = new Float32Array(nToken * nExpert);
  const indices = new Int32Array(nToken * k);
  const weights = new Float32Array(nToken * k);
  const p = new Float64Array(nExpert);
  for (let t = 0; t < nToken; t++) {
    softmaxRow(logits, t * nExpert, nExpert, p);
    for (let e = 0; e < nExpert; e++) probs[t * nExpert + e] = p[e];
    topKIndices(p, nExpert, k, indices, t * k);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[indices[t * k + j]];
    const divisor = normalize ? sum + RENORM_EPSILON : 1;
    for (let j = 0; j < k; j++) weights[t * k + j] = (p[indices[t * k + j]] / divisor) * scale;
  }
  return { probs, indices, weights };
}
