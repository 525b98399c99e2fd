// Softmax over the experts of each token: subtract the row max (so exp never overflows), exponentiate
// with Mathf.exp (correctly rounded to about 1 ulp), normalise by an f64 sum so long rows lose no accuracy.

/** dst[i] = exp(src[i] − max) / Σ exp(src − max) for one row of n values. src and dst may alias. */
export function softmaxRow(src: usize, dst: usize, n: i32): void {
  let m = load<f32>(src);
  for (let i = 1; i < n; i++) m = max(m, load<f32>(src + (<usize>i << 2)));
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    const e = Mathf.exp(load<f32>(src + off) - m);
    store<f32>(dst + off, e);
    sum += <f64>e;
  }
  const inv = 1.0 / sum;
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(dst + off, <f32>(<f64>load<f32>(dst + off) * inv));
  }
}

/**
 * @param logits [nToken, nExpert]
 * @param probs  [nToken, nExpert]
 */
export function softmax(logits: usize, probs: usize, nToken: i32, nExpert: i32): void {
  const rowBytes = <usize>nExpert << 2;
  for (let t = 0; t < nToken; t++) {
    softmaxRow(logits + <usize>t * rowBytes, probs + <usize>t * rowBytes, nExpert);
  }
}
