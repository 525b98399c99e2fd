// Token-choice top-k (DESIGN.md §3 `topk`, `self`): keys = scores + selectionBias, optionally limited to
// the best groups; weights = the unbiased scores at the chosen experts, divided by their sum (+1e-20)
// when normalising, times scale. Mirrors ts/reference/routers/select-topk.ts operation for operation.
import { topKRow } from './topk-row';
import { groupScratchBytes, maskToBestGroups } from './groups';

/** Megatron-Core and HF DeepSeek add this before dividing by the sum of the kept scores. */
const RENORM_EPSILON: f64 = 1e-20;

/** Bytes of scratch selectTopK needs. */
export function selectScratchBytes(nExpert: i32): usize {
  return (<usize>nExpert << 4) + groupScratchBytes(nExpert);
}

/**
 * Weights of one token from its chosen experts: shared with the hash router's 'scores' mode and Sinkhorn.
 * @param s   [nExpert] f64 scores of the token
 * @param idx [k] i32 chosen experts
 * @param w   [k] f32 out
 */
export function weighRow(s: usize, idx: usize, k: i32, normalize: i32, scale: f64, w: usize): void {
  let sum: f64 = 0;
  for (let j = 0; j < k; j++) sum += load<f64>(s + (<usize>load<i32>(idx + (<usize>j << 2)) << 3));
  const divisor: f64 = normalize != 0 ? sum + RENORM_EPSILON : 1.0;
  for (let j = 0; j < k; j++) {
    const v = load<f64>(s + (<usize>load<i32>(idx + (<usize>j << 2)) << 3));
    store<f32>(w + (<usize>j << 2), <f32>((v / divisor) * scale));
  }
}

/**
 * @param scores    [nToken, nExpert] f64 after the score function
 * @param logits    [nToken, nExpert] f32 raw (read only when groups are scored on logits)
 * @param bias      [nExpert] f32 selection bias, or 0
 * @param nGroup    0 for no groups; else groups.count, with groupTopk, scoreTopN, onLogits (0 | 1)
 * @param work      selectScratchBytes(nExpert)
 * @param indices   [nToken, k] i32 out, best first
 * @param weights   [nToken, k] f32 out
 */
export function selectTopK(
  scores: usize, logits: usize, bias: usize, nToken: i32, nExpert: i32, k: i32,
  nGroup: i32, groupTopk: i32, scoreTopN: i32, onLogits: i32,
  normalize: i32, scale: f64, work: usize, indices: usize, weights: usize,
): void {
  const keys = work; // [nExpert] f64
  const logitKeys = work + (<usize>nExpert << 3); // [nExpert] f64: group keys when scored on logits
  const groupWork = work + (<usize>nExpert << 4);
  for (let t = 0; t < nToken; t++) {
    const s = scores + (<usize>t * <usize>nExpert << 3);
    let sel = s;
    if (bias != 0 || nGroup > 0) {
      for (let e = 0; e < nExpert; e++) {
        const b: f64 = bias != 0 ? <f64>load<f32>(bias + (<usize>e << 2)) : 0;
        store<f64>(keys + (<usize>e << 3), load<f64>(s + (<usize>e << 3)) + b);
      }
      sel = keys;
    }
    if (nGroup > 0) {
      let groupKeys = keys;
      if (onLogits != 0) {
        const z = logits + (<usize>t * <usize>nExpert << 2);
        for (let e = 0; e < nExpert; e++) store<f64>(logitKeys + (<usize>e << 3), <f64>load<f32>(z + (<usize>e << 2)));
        groupKeys = logitKeys;
      }
      maskToBestGroups(keys, groupKeys, nExpert, nGroup, groupTopk, scoreTopN, groupWork);
    }
    const idx = indices + (<usize>t * <usize>k << 2);
    topKRow(sel, nExpert, k, idx);
    weighRow(s, idx, k, normalize, scale, weights + (<usize>t * <usize>k << 2));
  }
}

/**
 * Weights at given experts for every token (hash 'scores', Sinkhorn).
 * @param scores  [nToken, nExpert] f64
 * @param indices [nToken, k] i32
 * @param weights [nToken, k] f32 out
 */
export function gatherWeights(scores: usize, indices: usize, nToken: i32, nExpert: i32, k: i32, normalize: i32, scale: f64, weights: usize): void {
  for (let t = 0; t < nToken; t++) {
    weighRow(scores + (<usize>t * <usize>nExpert << 3), indices + (<usize>t * <usize>k << 2), k, normalize, scale, weights + (<usize>t * <usize>k << 2));
  }
}
