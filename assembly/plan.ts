// Dispatch plan: a counting sort of the (token, slot) assignments by expert. Assignments are visited in
// slot order t·k + j, so each expert's rows come out in ascending token order. Expert ids outside
// [0, nExpert) — −1 marks a dropped or unused slot — are skipped, which also keeps writes in bounds.

/**
 * @param indices     [nToken, k] expert per assignment
 * @param weights     [nToken, k] mixing weight per assignment
 * @param offsets     [nExpert + 1] out: rows of expert e are offsets[e] .. offsets[e+1]
 * @param rows        [nToken · k] out (first nRow used): token of each row
 * @param planWeights [nToken · k] out: weight of each row
 * @param slots       [nToken · k] out: t·k + j of each row
 * @param cursor      [nExpert] scratch
 * @returns nRow, the number of rows written
 */
export function buildPlan(
  indices: usize, weights: usize, nToken: i32, k: i32, nExpert: i32,
  offsets: usize, rows: usize, planWeights: usize, slots: usize, cursor: usize,
): i32 {
  const nSlot = nToken * k;
  memory.fill(offsets, 0, (<usize>nExpert + 1) << 2);
  for (let a = 0; a < nSlot; a++) {
    const e = load<i32>(indices + (<usize>a << 2));
    if (<u32>e < <u32>nExpert) {
      const c = offsets + ((<usize>e + 1) << 2);
      store<i32>(c, load<i32>(c) + 1);
    }
  }
  let running = 0;
  for (let e = 0; e < nExpert; e++) {
    store<i32>(cursor + (<usize>e << 2), running);
    running += load<i32>(offsets + ((<usize>e + 1) << 2));
    store<i32>(offsets + ((<usize>e + 1) << 2), running);
  }
  for (let a = 0; a < nSlot; a++) {
    const e = load<i32>(indices + (<usize>a << 2));
    if (<u32>e < <u32>nExpert) {
      const c = cursor + (<usize>e << 2);
      const r = load<i32>(c);
      store<i32>(c, r + 1);
      const ro = <usize>r << 2;
      store<i32>(rows + ro, a / k);
      store<f32>(planWeights + ro, load<f32>(weights + (<usize>a << 2)));
      store<i32>(slots + ro, a);
    }
  }
  return running;
}
