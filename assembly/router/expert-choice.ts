// Expert choice (Zhou et al. 2022; flaxformer ExpertsChooseMaskedRouter), as
// ts/reference/routers/expert-choice.ts: every expert takes its top C tokens by softmax score (ties to
// the lower token); a token's list holds the experts that took it, best first, padded with −1 to width E.
import { keepBest, worse } from './keep-best';

/** Python's round() for x ≥ 0: halves go to the even neighbour, as flaxformer's int(round(c·T/E)). */
function roundHalfEven(x: f64): f64 {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 == 0 ? f : f + 1;
}

/** C = clamp(max(round(c·T/E), minCapacity), ≤ T). */
export function expertChoiceCapacity(capacityFactor: f64, minCapacity: i32, nToken: i32, nExpert: i32): i32 {
  const r = roundHalfEven((capacityFactor * <f64>nToken) / <f64>nExpert);
  return <i32>min(max(r, <f64>minCapacity), <f64>nToken);
}

/**
 * @param scores  [nToken, nExpert] f64 softmax
 * @param heap    [C] i32 scratch
 * @param count   [nToken] i32 scratch: experts taken so far per token
 * @param indices [nToken, nExpert] i32 out; weights [nToken, nExpert] f32 out
 * @returns C
 */
export function expertChoice(
  scores: usize, nToken: i32, nExpert: i32, capacityFactor: f64, minCapacity: i32,
  heap: usize, count: usize, indices: usize, weights: usize,
): i32 {
  const C = expertChoiceCapacity(capacityFactor, minCapacity, nToken, nExpert);
  // Ranked by the scores rounded to f32, as the reference (ts/reference/routers/expert-choice.ts says why):
  // weights holds them, row t until its list is sorted.
  const n = nToken * nExpert;
  for (let i = 0; i < n; i++) store<f32>(weights + (<usize>i << 2), <f32>load<f64>(scores + (<usize>i << 3)));
  const stride = <usize>nExpert << 2;
  memory.fill(count, 0, <usize>nToken << 2);
  // C = 0 (minCapacity 0 and c·T/E < 0.5): no expert takes a token, and keepBest wants keep ≥ 1.
  for (let e = 0; e < nExpert && C > 0; e++) {
    const column = weights + (<usize>e << 2);
    const root = keepBest<f32>(0, nToken, C, column, stride, heap);
    for (let t = 0; t < nToken; t++) {
      if (root >= 0 && worse<f32>(column, stride, t, root)) continue;
      const c = load<i32>(count + (<usize>t << 2));
      store<i32>(indices + ((<usize>t * <usize>nExpert + <usize>c) << 2), e);
      store<i32>(count + (<usize>t << 2), c + 1);
    }
  }
  for (let t = 0; t < nToken; t++) {
    const row = indices + (<usize>t * <usize>nExpert << 2);
    const s = scores + (<usize>t * <usize>nExpert << 3);
    const w = weights + (<usize>t * <usize>nExpert << 2);
    const taken = load<i32>(count + (<usize>t << 2));
    // Insertion sort by (score desc, expert asc) on the f32 scores still in w: the list arrives in expert
    // order, so strict < keeps ties.
    for (let i = 1; i < taken; i++) {
      const e = load<i32>(row + (<usize>i << 2));
      const v = load<f32>(w + (<usize>e << 2));
      let j = i;
      while (j > 0) {
        const p = load<i32>(row + (<usize>(j - 1) << 2));
        if (!(load<f32>(w + (<usize>p << 2)) < v)) break;
        store<i32>(row + (<usize>j << 2), p);
        j--;
      }
      store<i32>(row + (<usize>j << 2), e);
    }
    // Row t's keys are read; its weights go in their place (the same f32 values, in the row's order).
    for (let j = 0; j < nExpert; j++) {
      if (j < taken) {
        store<f32>(w + (<usize>j << 2), <f32>load<f64>(s + (<usize>load<i32>(row + (<usize>j << 2)) << 3)));
      } else {
        store<i32>(row + (<usize>j << 2), -1);
        store<f32>(w + (<usize>j << 2), 0);
      }
    }
  }
  return C;
}
