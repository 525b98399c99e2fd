// Group-limited selection (DeepSeek-V3 node-limited routing; Megatron-Core group_limited_topk): split the
// E experts into `count` equal groups, score each group by the sum of its top `scoreTopN` keys, keep the
// best `topk` groups (ties to the lower group) and mask every expert outside them with −∞.
import { topKRow } from './topk-row';

/** Bytes of scratch maskToBestGroups needs for nExpert experts. */
export function groupScratchBytes(nExpert: i32): usize {
  return <usize>nExpert * 16;
}

/**
 * @param keys      [nExpert] f64 selection keys, masked in place
 * @param groupKeys [nExpert] f64 what groups are scored on (keys themselves, or the raw logits)
 * @param work      groupScratchBytes(nExpert): group scores f64 [count], then order i32 [size] and kept i32 [topk]
 */
export function maskToBestGroups(keys: usize, groupKeys: usize, nExpert: i32, count: i32, topk: i32, scoreTopN: i32, work: usize): void {
  const size = nExpert / count;
  const groupScore = work; // [count] f64
  const order = work + (<usize>count << 3); // [size] i32
  const kept = order + (<usize>size << 2); // [topk] i32
  // Every group is scored before any is masked: the scores read the unmasked keys.
  for (let g = 0; g < count; g++) {
    const member = groupKeys + (<usize>(g * size) << 3);
    topKRow(member, size, scoreTopN, order);
    // Summed best first, in the reference's order, so equal inputs give bit-equal group scores.
    let sum: f64 = 0;
    for (let j = 0; j < scoreTopN; j++) sum += load<f64>(member + (<usize>load<i32>(order + (<usize>j << 2)) << 3));
    store<f64>(groupScore + (<usize>g << 3), sum);
  }
  topKRow(groupScore, count, topk, kept);
  for (let g = 0; g < count; g++) {
    let keep = false;
    for (let j = 0; j < topk; j++) if (load<i32>(kept + (<usize>j << 2)) == g) keep = true;
    if (keep) continue;
    for (let m = 0; m < size; m++) store<f64>(keys + (<usize>(g * size + m) << 3), -Infinity);
  }
}
