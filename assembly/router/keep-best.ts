// The best `keep` of n items by (key descending, item ascending): expert choice's top-C tokens per expert,
// capacity's 'probs' survivors. Only the set matters to callers, so a size-`keep` heap with the worst
// kept item at its root suffices (O(n·log keep)); the root is then the threshold: an item is kept iff it
// is not worse than the root, which under this total order holds for exactly `keep` items.

/** Whether item a ranks below item b: smaller key, or equal key and higher item (the tie rule). */
// @ts-ignore: decorator
@inline export function worse<K>(keys: usize, stride: usize, a: i32, b: i32): bool {
  const ka = load<K>(keys + <usize>a * stride);
  const kb = load<K>(keys + <usize>b * stride);
  return ka < kb || (ka == kb && a > b);
}

// @ts-ignore: decorator
@inline function itemAt(items: usize, i: i32): i32 {
  return items != 0 ? load<i32>(items + (<usize>i << 2)) : i;
}

function siftDown<K>(heap: usize, size: i32, at: i32, keys: usize, stride: usize): void {
  let i = at;
  const v = load<i32>(heap + (<usize>i << 2));
  while (true) {
    const l = 2 * i + 1;
    if (l >= size) break;
    let c = l;
    const lv = load<i32>(heap + (<usize>l << 2));
    let cv = lv;
    if (l + 1 < size) {
      const rv = load<i32>(heap + (<usize>(l + 1) << 2));
      if (worse<K>(keys, stride, rv, lv)) {
        c = l + 1;
        cv = rv;
      }
    }
    if (!worse<K>(keys, stride, cv, v)) break;
    store<i32>(heap + (<usize>i << 2), cv);
    i = c;
  }
  store<i32>(heap + (<usize>i << 2), v);
}

/**
 * The worst of the best `keep` items, or −1 when keep ≥ n (every item is kept).
 * @param items [n] i32 item ids, or 0 for the ids 0 .. n−1
 * @param keys  key of item i at keys + i·stride (type K)
 * @param heap  [keep] i32 scratch
 */
export function keepBest<K>(items: usize, n: i32, keep: i32, keys: usize, stride: usize, heap: usize): i32 {
  if (keep >= n) return -1;
  if (keep <= 0) return itemAt(items, 0); // unreachable: the callers ask for keep ≥ 1
  for (let i = 0; i < keep; i++) store<i32>(heap + (<usize>i << 2), itemAt(items, i));
  for (let i = (keep >> 1) - 1; i >= 0; i--) siftDown<K>(heap, keep, i, keys, stride);
  for (let i = keep; i < n; i++) {
    const v = itemAt(items, i);
    if (worse<K>(keys, stride, load<i32>(heap), v)) {
      store<i32>(heap, v);
      siftDown<K>(heap, keep, 0, keys, stride);
    }
  }
  return load<i32>(heap);
}
