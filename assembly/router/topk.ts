// Top-k over softmax scores. Order is (score descending, expert index ascending) — the rule shared by
// every path (DESIGN.md §2), so exact ties go to the lower expert index.
// Selection compares the f32 logits, not the f32 probs: softmax is strictly increasing, so the order is
// the same, but rounding to f32 probs would merge close scores (and underflow small ones to equal zeros)
// into ties the f64 reference does not see; the logits keep every distinction the input has.
import { softmaxRow } from './softmax';

/**
 * Writes the k best of one row in order. Each pass takes the best candidate strictly after the previous
 * pick in (score desc, index asc) order, so no "already chosen" marks are needed. A pass that finds no
 * candidate (only possible with NaN scores) writes −1 with weight 0 instead of reading out of bounds.
 */
function selectRow(scores: usize, n: i32, k: i32, indices: usize): void {
  let prevS: f32 = 0;
  let prevI = -1;
  for (let j = 0; j < k; j++) {
    let best = -1;
    let bestS: f32 = 0;
    for (let i = 0; i < n; i++) {
      const s = load<f32>(scores + (<usize>i << 2));
      const after = j == 0 ? s == s : s < prevS || (s == prevS && i > prevI);
      if (after && (best < 0 || s > bestS)) {
        best = i;
        bestS = s;
      }
    }
    store<i32>(indices + (<usize>j << 2), best);
    if (best < 0) {
      prevS = NaN;
    } else {
      prevS = bestS;
      prevI = best;
    }
  }
}

/**
 * probs = softmax(logits); indices/weights = top-k of probs; weights optionally renormalised to sum 1
 * (+1e-20 so an all-zero row stays finite), then multiplied by scale.
 * @param logits  [nToken, nExpert]
 * @param probs   [nToken, nExpert]
 * @param indices [nToken, k]
 * @param weights [nToken, k]
 */
export function topKSoftmax(
  logits: usize, probs: usize, indices: usize, weights: usize,
  nToken: i32, nExpert: i32, k: i32, normalize: i32, scale: f32,
): void {
  const rowBytes = <usize>nExpert << 2;
  const kBytes = <usize>k << 2;
  for (let t = 0; t < nToken; t++) {
    const p = probs + <usize>t * rowBytes;
    const idx = indices + <usize>t * kBytes;
    const w = weights + <usize>t * kBytes;
    const z = logits + <usize>t * rowBytes;
    selectRow(z, nExpert, k, idx);
    softmaxRow(z, p, nExpert);
    let sum: f64 = 0;
    for (let j = 0; j < k; j++) {
      const e = load<i32>(idx + (<usize>j << 2));
      const pe: f32 = e < 0 ? 0 : load<f32>(p + (<usize>e << 2));
      store<f32>(w + (<usize>j << 2), pe);
      sum += <f64>pe;
    }
    const denom: f64 = normalize != 0 ? sum + 1e-20 : 1.0;
    if (normalize != 0 || scale != 1) {
      for (let j = 0; j < k; j++) {
        const off = <usize>j << 2;
        store<f32>(w + off, <f32>((<f64>load<f32>(w + off) / denom) * <f64>scale));
      }
    }
  }
}
