// The assignments of one token group (rows first .. first+L) listed by expert: a counting sort of its
// slots t·k + j. Scanning slots in order keeps each expert's list in ascending token order, which is
// both capacity's 'position' ranking and the padded plan's row order. Slots with expert −1 are skipped.

/**
 * @param indices [nToken, k] i32
 * @param list    [L·k] i32 out: slots, grouped by expert
 * @param offsets [nExpert + 1] i32 out: expert e's slots are list[offsets[e] .. offsets[e+1])
 * @param cursor  [nExpert] i32 scratch
 */
export function groupSlots(indices: usize, first: i32, L: i32, k: i32, nExpert: i32, list: usize, offsets: usize, cursor: usize): void {
  const begin = first * k;
  const end = (first + L) * k;
  memory.fill(offsets, 0, (<usize>nExpert + 1) << 2);
  for (let s = begin; s < end; s++) {
    const e = load<i32>(indices + (<usize>s << 2));
    if (e < 0) continue;
    const at = offsets + ((<usize>e + 1) << 2);
    store<i32>(at, load<i32>(at) + 1);
  }
  for (let e = 0; e < nExpert; e++) {
    const start = load<i32>(offsets + (<usize>e << 2));
    store<i32>(cursor + (<usize>e << 2), start);
    const at = offsets + ((<usize>e + 1) << 2);
    store<i32>(at, load<i32>(at) + start);
  }
  for (let s = begin; s < end; s++) {
    const e = load<i32>(indices + (<usize>s << 2));
    if (e < 0) continue;
    const at = cursor + (<usize>e << 2);
    const r = load<i32>(at);
    store<i32>(list + (<usize>r << 2), s);
    store<i32>(at, r + 1);
  }
}
