// Softmax over one row, in f64 with the max subtracted so large logits cannot overflow.

/** Writes softmax(row) into out (f64), returns ln Σ exp(row) — the row's logsumexp. */
export function softmaxRow(row: ArrayLike<number>, offset: number, n: number, out: Float64Array): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, row[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.exp(row[offset + i] - max);
    sum += out[i];
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return max + Math.log(sum);
}
