// Top-k selection with the project's one tie rule: higher score first, then lower index.

/**
 * Writes into out the k indices of the largest keys, in descending order; equal keys go to the
 * lower index. Keys that are −∞ are still selectable (callers mask with −∞ and rely on distinctness).
 */
export function topKIndices(keys: ArrayLike<number>, n: number, k: number, out: Int32Array, outOffset = 0): void {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => (keys[b] > keys[a] ? 1 : keys[b] < keys[a] ? -1 : a - b));
  for (let j = 0; j < k; j++) out[outOffset + j] = order[j];
}
