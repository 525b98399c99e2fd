// What a path's cost at T tokens is known to be, from its runs at other token counts: the planner's
// reason to measure a path at a new shape class, or to leave it out (ts/api/planner.ts).
//
// Costs grow with T and are close to affine in it with a non-negative constant (a launch, a read-back,
// a pass over the weights, plus work per token). So, from runs at other token counts T':
//   lower bound   the warm cost at the largest T' ≤ T;
//   upper bounds  the cost at any T' ≥ T, and cost·T/T' at any T' < T (cold runs count here: their
//                 one-time work only adds);
//   estimate      the line through the two warm costs nearest below T, when there are two (much tighter
//                 than cost·T/T' for a path with a large fixed cost, like a GPU's launch and read-back),
//                 capped by the least upper bound; else the least upper bound.
// One token is a regime of its own: both paths switch to their mat-vec kernels there, so a run at T = 1
// bounds nothing at T > 1 nor the other way round (on lavapipe the GPU took 7 ms for 1 token and 200 ms
// for 4: its grouped GEMM reads every routed expert's weights at any T).

/** One run of a path: T, its cost in ms, and whether it was the path's first in the block (cold). */
export interface CostPoint {
  nToken: number;
  ms: number;
  cold: boolean;
}

export interface CostBounds {
  /** 0 when no warm run at T' ≤ T is known. */
  lower: number;
  /** Infinity when the path has no finite run at all: nothing is known about it. */
  estimate: number;
  /** The least upper bound alone (Infinity when none): what the path costs at most, not a guess. */
  upper: number;
}

export function costBounds(points: readonly CostPoint[], nToken: number): CostBounds {
  let upper = Infinity;
  const below: CostPoint[] = [];
  for (const p of points) {
    if (!Number.isFinite(p.ms) || !sameRegime(p.nToken, nToken)) continue;
    upper = Math.min(upper, p.ms * Math.max(1, nToken / p.nToken));
    if (p.nToken <= nToken && !p.cold) below.push(p);
  }
  below.sort((a, b) => b.nToken - a.nToken);
  const lower = below.length > 0 ? below[0].ms : 0;
  let estimate = upper;
  if (below.length >= 2 && below[0].nToken > below[1].nToken) {
    const [near, far] = below;
    const slope = Math.max(0, (near.ms - far.ms) / (near.nToken - far.nToken));
    estimate = Math.min(upper, near.ms + slope * (nToken - near.nToken));
  }
  return { lower, estimate: Math.max(lower, estimate), upper };
}

/** Whether a run at T' says anything about T: not across the one-token boundary (see above). */
export function sameRegime(a: number, b: number): boolean {
  return (a <= 1) === (b <= 1);
}
