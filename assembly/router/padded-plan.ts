// The dispatch plan with padToCapacity (DESIGN.md §3): in every token group of L rows each expert gets
// exactly min(C, L) rows — its real assignments (after capacity drops) plus the lowest-index tokens of
// the group not routed to it, at weight 0 and slot −1 — in ascending token order. After the drops an
// expert holds at most C real rows per group, so the row count per expert is nGroup·min(C, L), known
// up front: offsets need no counting pass, and each (group, expert) block is a merge of two ascending
// token sequences (its real rows and the unrouted tokens).
import { groupSlots } from './group-slots';

/**
 * @param indices     [nToken, k] i32 after capacity
 * @param weights     [nToken, k] f32 after capacity
 * @param offsets     [nExpert + 1] i32 out
 * @param rows        [nExpert · nGroup · min(C, L)] i32 out; planWeights f32 and slots i32 alike
 * @param list        [L·k] i32 scratch; groupOffsets [nExpert + 1], cursor [nExpert] i32 scratch
 * @returns the number of rows
 */
export function buildPaddedPlan(
  indices: usize, weights: usize, nToken: i32, k: i32, nExpert: i32, L: i32, C: i32,
  offsets: usize, rows: usize, planWeights: usize, slots: usize,
  list: usize, groupOffsets: usize, cursor: usize,
): i32 {
  const per = min(C, L);
  const nGroup = nToken / L;
  for (let e = 0; e <= nExpert; e++) store<i32>(offsets + (<usize>e << 2), e * nGroup * per);
  for (let g = 0; g < nGroup; g++) {
    const first = g * L;
    groupSlots(indices, first, L, k, nExpert, list, groupOffsets, cursor);
    for (let e = 0; e < nExpert; e++) {
      let p = load<i32>(groupOffsets + (<usize>e << 2));
      const end = load<i32>(groupOffsets + ((<usize>e + 1) << 2));
      let pads = per - (end - p);
      let r = e * nGroup * per + g * per;
      for (let t = first; p < end || pads > 0; t++) {
        const s = p < end ? load<i32>(list + (<usize>p << 2)) : -1;
        const ro = <usize>r << 2;
        if (s >= 0 && s / k == t) {
          store<i32>(rows + ro, t);
          store<f32>(planWeights + ro, load<f32>(weights + (<usize>s << 2)));
          store<i32>(slots + ro, s);
          p++;
          r++;
        } else if (pads > 0) {
          store<i32>(rows + ro, t);
          store<f32>(planWeights + ro, 0);
          store<i32>(slots + ro, -1);
          pads--;
          r++;
        }
      }
    }
  }
  return nExpert * nGroup * per;
}
