// Seeded MoE blocks on odd shapes, every path against the independent dense oracle (oracle.ts):
// T ∈ {1, 7, 64, 257}, k = 1..E, d and dFF off every tile size, with and without renormalisation.
import { expectClose, expectExact, expectRelativeToNorm, type Tolerance } from './compare.js';
import { denseMoE, type DenseMoE } from './oracle.js';
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase, type LaneBackend } from './types.js';

export interface Shape {
  seed: number;
  T: number;
  d: number;
  f: number;
  E: number;
  k: number;
  normalize: boolean;
}

/** Weights in f32 against an f64 oracle: softmax of f32 logits carries ~1e-7 relative error. */
const WEIGHT_TOLERANCE: Tolerance = { abs: 1e-6, rel: 1e-5 };
/**
 * Output error relative to the output's norm: f32 sums of ≤ 257 terms stay near 1e-6 on CPU; the GPU may
 * use a faster, less exact exp inside SiLU and a different summation order.
 */
const OUTPUT_BOUND: Record<LaneBackend, number> = { reference: 1e-6, wasm: 1e-5, webgpu: 1e-4 };
/** Selection gap kept between the k-th and (k+1)-th logit, far above f32 rounding, so ids compare exactly. */
const MIN_LOGIT_MARGIN = 1e-3;

function sortedGapAt(row: ArrayLike<number>, k: number): number {
  if (k >= row.length) return Infinity;
  const s = Array.from(row).sort((a, b) => b - a);
  return s[k - 1] - s[k];
}

/** Draws the block and a hidden batch whose every token is clear of a top-k tie. */
export function makeBlock({ seed, T, d, f, E, k, normalize }: Shape): { m: DenseMoE; hidden: Float32Array } {
  const random = rng(seed);
  const m: DenseMoE = {
    dModel: d, dFF: f, nExpert: E, k, normalize,
    routerWeight: normal(random, E * d, 1 / Math.sqrt(d)),
    gate: normal(random, E * f * d, 1 / Math.sqrt(d)),
    up: normal(random, E * f * d, 1 / Math.sqrt(d)),
    down: normal(random, E * d * f, 1 / Math.sqrt(f)),
  };
  const hidden = new Float32Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let attempt = 0; ; attempt++) {
      hidden.set(normal(random, d), t * d);
      const z = denseMoE({ ...m }, hidden.subarray(t * d, (t + 1) * d), 1).logits;
      if (sortedGapAt(z, k) >= MIN_LOGIT_MARGIN) break;
      if (attempt > 100) throw new CaseFailure(`seed ${seed}: could not draw a tie-free token`);
    }
  }
  return { m, hidden };
}

async function runRandomBlock(shape: Shape, ctx: CaseContext): Promise<void> {
  const { m, hidden } = makeBlock(shape);
  const { T, E, k, d, f } = shape;
  const want = denseMoE(m, hidden, T);
  const moe = await ctx.api.createMoE(
    { dModel: d, router: { kind: 'topk', numExperts: E, topK: k, normalize: shape.normalize }, expert: { dFF: f, activation: 'swiglu' } },
    { 'router.weight': m.routerWeight, 'experts.gate': m.gate, 'experts.up': m.up, 'experts.down': m.down },
    { backend: ctx.backend },
  );
  try {
    const { output, routing } = await moe.forward(hidden, { tokens: T });
    if (routing.backend !== ctx.backend) throw new CaseFailure(`routing ran on ${routing.backend}, expected ${ctx.backend}`);
    expectExact('indices', routing.indices, want.indices);
    expectClose('weights', routing.weights, want.weights, WEIGHT_TOLERANCE);
    expectClose('probs', routing.probs, want.probs, WEIGHT_TOLERANCE);
    expectRelativeToNorm('output', output, want.output, OUTPUT_BOUND[ctx.backend]);
    checkPlan(routing.plan, routing.indices, routing.weights, T, k, E);
  } finally {
    moe.destroy();
  }
}

/** The plan holds exactly the assignments, grouped by expert, tokens ascending within an expert. */
export function checkPlan(
  plan: { offsets: Int32Array; rows: Int32Array; weights: Float32Array; slots: Int32Array },
  indices: Int32Array, weights: Float32Array, T: number, k: number, E: number,
): void {
  if (plan.offsets.length !== E + 1 || plan.offsets[0] !== 0) throw new CaseFailure('plan.offsets: wrong length or start');
  const seen = new Set<number>();
  for (let e = 0; e < E; e++) {
    for (let r = plan.offsets[e]; r < plan.offsets[e + 1]; r++) {
      const s = plan.slots[r];
      if (s < 0 || s >= T * k || indices[s] !== e || plan.rows[r] !== Math.floor(s / k) || plan.weights[r] !== weights[s]) {
        throw new CaseFailure(`plan row ${r} of expert ${e} does not match its slot ${s}`);
      }
      if (r > plan.offsets[e] && plan.rows[r] <= plan.rows[r - 1]) throw new CaseFailure(`plan rows of expert ${e} not ascending`);
      seen.add(s);
    }
  }
  const assigned = Array.from(indices).filter((e) => e >= 0).length;
  if (seen.size !== assigned || plan.rows.length !== assigned) throw new CaseFailure(`plan holds ${seen.size} assignments, expected ${assigned}`);
}

const SHAPES: Shape[] = [
  ...[1, 2, 3, 4].map((k) => ({ seed: 10 + k, T: 7, d: 13, f: 67, E: 4, k, normalize: true })),
  ...[1, 7, 64, 257].map((T) => ({ seed: 20 + T, T, d: 67, f: 100, E: 8, k: 2, normalize: true })),
  { seed: 31, T: 64, d: 129, f: 35, E: 33, k: 5, normalize: false },
  { seed: 32, T: 7, d: 16, f: 32, E: 1, k: 1, normalize: true },
  { seed: 33, T: 9, d: 100, f: 13, E: 6, k: 6, normalize: false },
];

export const randomMoECases: ConformanceCase[] = SHAPES.map((s) => ({
  name: `random block seed ${s.seed}: T${s.T} d${s.d} f${s.f} E${s.E} k${s.k}${s.normalize ? ' renorm' : ''}`,
  backends: ['reference', 'wasm', 'webgpu'] as const,
  run: (ctx: CaseContext) => runRandomBlock(s, ctx),
}));
