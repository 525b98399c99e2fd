// Expert capacity (DESIGN.md §3 `capacity`; ts/reference/routers/capacity.ts): per expert and per token
// group of L rows keep at most C routed tokens — the largest final weights ('probs', Megatron-Core; ties
// to the lower token) or the earliest ('position', Switch) — and drop the rest to expert −1, weight 0.
// Survivors are not renormalised. Padding rows are the plan's business (padded-plan.ts).
import { groupSlots } from './group-slots';
import { keepBest, worse } from './keep-best';

/** C = perExpert, or ceil(((L·k)/E)·factor) in Megatron-Core's order of operations. */
export function expertCapacity(perExpert: i32, factor: f64, L: i32, k: i32, nExpert: i32): i32 {
  if (perExpert > 0) return perExpert;
  return <i32>Math.ceil(((<f64>L * <f64>k) / <f64>nExpert) * factor);
}

/**
 * Drops in place; returns the number of slots dropped.
 * @param indices [nToken, k] i32, in/out
 * @param weights [nToken, k] f32, in/out
 * @param L       rows per group (T, or sequenceLength for per 'sequence'); divides nToken
 * @param byProbs 1 for 'probs', 0 for 'position'
 * @param list    [L·k] i32 scratch; offsets [nExpert + 1], cursor [nExpert] i32 scratch; heap [L] i32 scratch
 */
export function applyCapacity(
  indices: usize, weights: usize, nToken: i32, k: i32, nExpert: i32, L: i32, C: i32, byProbs: i32,
  list: usize, offsets: usize, cursor: usize, heap: usize,
): i32 {
  let dropped = 0;
  // 'probs' ranks the slots; with C = 0 (perExpert 0) every slot is dropped, as 'position' drops them
  // (i >= 0), and keepBest, which wants keep ≥ 1, is not asked.
  const ranked = byProbs != 0 && C > 0;
  for (let first = 0; first < nToken; first += L) {
    groupSlots(indices, first, L, k, nExpert, list, offsets, cursor);
    for (let e = 0; e < nExpert; e++) {
      const start = load<i32>(offsets + (<usize>e << 2));
      const n = load<i32>(offsets + ((<usize>e + 1) << 2)) - start;
      if (n <= C) continue;
      const mine = list + (<usize>start << 2);
      // A token holds at most one slot per expert, so ranking slots ranks tokens: lower slot = lower token.
      const root = ranked ? keepBest<f32>(mine, n, C, weights, 4, heap) : 0;
      for (let i = 0; i < n; i++) {
        const s = load<i32>(mine + (<usize>i << 2));
        const drop = ranked ? worse<f32>(weights, 4, s, root) : i >= C;
        if (!drop) continue;
        store<i32>(indices + (<usize>s << 2), -1);
        store<f32>(weights + (<usize>s << 2), 0);
        dropped++;
      }
    }
  }
  return dropped;
}
