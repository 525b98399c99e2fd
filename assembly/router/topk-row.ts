// Top-k of one row of f64 keys with the project's one tie rule (DESIGN.md §2): higher key first, then
// lower index. Shared by token-choice selection, groups, Sinkhorn and the aux-loss counts.
//
// Insertion into a sorted list of k: a scan in index order meets equal keys lower index first, so a
// later equal key never displaces an earlier one (strict >), which is exactly the tie rule. On random rows
// about k·ln(n/k) keys get inserted, O(k) each: O(n + k²·ln(n/k)) against the O(n·k) of k passes.

/**
 * Writes the indices of the k largest keys into out, best first.
 * @param keys [n] f64; −∞ is a valid key (masked experts), NaN never occurs (inputs are validated finite)
 * @param out  [k] i32
 */
export function topKRow(keys: usize, n: i32, k: i32, out: usize): void {
  if (k <= 0) return;
  let filled = 0;
  // Key of out[k − 1] once the list is full: the bar a new key must strictly clear.
  let bar: f64 = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = load<f64>(keys + (<usize>i << 3));
    if (filled == k) {
      if (!(v > bar)) continue;
      filled--;
    }
    // Shift down every kept entry whose key is below v; equal keys stay ahead (lower index).
    let j = filled;
    while (j > 0) {
      const prev = load<i32>(out + (<usize>(j - 1) << 2));
      if (load<f64>(keys + (<usize>prev << 3)) >= v) break;
      store<i32>(out + (<usize>j << 2), prev);
      j--;
    }
    store<i32>(out + (<usize>j << 2), i);
    filled++;
    if (filled == k) bar = load<f64>(keys + (<usize>load<i32>(out + (<usize>(k - 1) << 2)) << 3));
  }
}

/**
 * topKRow for every row of keys [nRow, n] into out [nRow, k]: Sinkhorn selects on its plan this way.
 */
export function topKRows(keys: usize, nRow: i32, n: i32, k: i32, out: usize): void {
  for (let t = 0; t < nRow; t++) {
    topKRow(keys + (<usize>t * <usize>n << 3), n, k, out + (<usize>t * <usize>k << 2));
  }
}
