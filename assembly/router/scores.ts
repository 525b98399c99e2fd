// Score functions over router logits, in f64 like the reference (ts/reference/routers/scores.ts):
// softmax over a token's experts, or elementwise sigmoid / sqrt(softplus) (DeepSeek-V3, V4). The f64
// scores are what selection compares, so the wasm path ranks exactly as the oracle does; the f32
// copy is the `probs` the caller sees.

/** Above this softplus(z) = z to f32 precision; torch's default threshold, as the reference. */
const SOFTPLUS_LINEAR_ABOVE: f64 = 20;

export const SCORE_SOFTMAX = 0;
export const SCORE_SIGMOID = 1;
export const SCORE_SQRT_SOFTPLUS = 2;

/** Softmax of one row in place over f64, reading f32 logits; returns the row's logsumexp. */
function softmaxRow(z: usize, s: usize, n: i32): f64 {
  let m: f64 = -Infinity;
  for (let e = 0; e < n; e++) m = max(m, <f64>load<f32>(z + (<usize>e << 2)));
  let sum: f64 = 0;
  for (let e = 0; e < n; e++) {
    const v = Math.exp(<f64>load<f32>(z + (<usize>e << 2)) - m);
    store<f64>(s + (<usize>e << 3), v);
    sum += v;
  }
  // Divide (not multiply by 1/sum) so the scores round as the reference's do.
  for (let e = 0; e < n; e++) store<f64>(s + (<usize>e << 3), load<f64>(s + (<usize>e << 3)) / sum);
  return m + Math.log(sum);
}

/**
 * @param logits [nToken, nExpert] f32
 * @param fn     SCORE_SOFTMAX | SCORE_SIGMOID | SCORE_SQRT_SOFTPLUS
 * @param scores [nToken, nExpert] f64 out
 * @param probs  [nToken, nExpert] f32 out (the scores rounded once), or 0
 * @param lse    [nToken] f64 out: logsumexp per token, softmax only (it is the z-loss's), or 0
 */
export function scoreLogits(logits: usize, nToken: i32, nExpert: i32, fn: i32, scores: usize, probs: usize, lse: usize): void {
  for (let t = 0; t < nToken; t++) {
    const z = logits + (<usize>t * <usize>nExpert << 2);
    const s = scores + (<usize>t * <usize>nExpert << 3);
    if (fn == SCORE_SOFTMAX) {
      const l = softmaxRow(z, s, nExpert);
      if (lse != 0) store<f64>(lse + (<usize>t << 3), l);
    } else if (fn == SCORE_SIGMOID) {
      for (let e = 0; e < nExpert; e++) {
        store<f64>(s + (<usize>e << 3), 1.0 / (1.0 + Math.exp(-<f64>load<f32>(z + (<usize>e << 2)))));
      }
    } else {
      for (let e = 0; e < nExpert; e++) {
        const v = <f64>load<f32>(z + (<usize>e << 2));
        store<f64>(s + (<usize>e << 3), Math.sqrt(v > SOFTPLUS_LINEAR_ABOVE ? v : Math.log1p(Math.exp(v))));
      }
    }
  }
  if (probs != 0) {
    const n = nToken * nExpert;
    for (let i = 0; i < n; i++) store<f32>(probs + (<usize>i << 2), <f32>load<f64>(scores + (<usize>i << 3)));
  }
}
