// route() with logits given: exact ties go to the lower expert index, k = E, T = 1, scaling, and the
// stats and losses against their definitions (DESIGN.md §3).
import { expectClose, expectExact, expectScalar, type Tolerance } from './compare.js';
import { denseMoE } from './oracle.js';
import { checkPlan } from './random-moe.js';
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

const WEIGHT_TOLERANCE: Tolerance = { abs: 1e-6, rel: 1e-5 };
/** Stats and losses are sums of f32 probabilities in f64: 1e-9 relative is float64 noise. */
const STAT_TOLERANCE: Tolerance = { abs: 1e-9, rel: 1e-7 };

interface RouteShape {
  name: string;
  T: number;
  E: number;
  k: number;
  normalize: boolean;
  scale: number;
  sequenceLength?: number;
  logits: (random: () => number, T: number, E: number) => Float32Array;
}

/** Logits drawn from a few values only, so many rows hold exact ties. */
const tied = (random: () => number, T: number, E: number) =>
  Float32Array.from({ length: T * E }, () => [-1, 0, 0.5, 2][Math.floor(random() * 4)]);
const gaussian = (random: () => number, T: number, E: number) => normal(random, T * E, 2);

async function runRoute(s: RouteShape, seed: number, ctx: CaseContext): Promise<void> {
  const { T, E, k } = s;
  const logits = s.logits(rng(seed), T, E);
  const want = denseMoE(
    { dModel: 0, dFF: 0, nExpert: E, k, normalize: s.normalize, routerWeight: new Float32Array(), gate: new Float32Array(), up: new Float32Array(), down: new Float32Array() },
    new Float32Array(), T, logits,
  );
  const r = await ctx.api.route(
    { kind: 'topk', numExperts: E, topK: k, normalize: s.normalize, scale: s.scale },
    { tokens: T, logits, sequenceLength: s.sequenceLength },
    { backend: ctx.backend },
  );
  if (r.backend !== ctx.backend) throw new CaseFailure(`ran on ${r.backend}, expected ${ctx.backend}`);
  expectExact('indices', r.indices, want.indices);
  expectClose('weights', r.weights, want.weights.map((w) => w * s.scale), WEIGHT_TOLERANCE);
  expectClose('probs', r.probs, want.probs, WEIGHT_TOLERANCE);
  checkPlan(r.plan, r.indices, r.weights, T, k, E);

  // Load, entropy and losses straight from their definitions over the oracle's selection.
  const load = new Array(E).fill(0);
  want.indices.forEach((e) => load[e]++);
  expectExact('stats.load', r.stats.load, load);
  const mean = (T * k) / E;
  expectScalar('stats.maxOverMean', r.stats.maxOverMean, Math.max(...load) / mean, STAT_TOLERANCE);
  const entropy = (p: number[]) => (E === 1 ? 0 : -p.reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0) / Math.log(E));
  expectScalar('stats.loadEntropy', r.stats.loadEntropy, entropy(load.map((n) => n / (T * k))), STAT_TOLERANCE);
  let tokenEntropy = 0;
  for (let t = 0; t < T; t++) tokenEntropy += entropy(Array.from(want.probs.subarray(t * E, (t + 1) * E))) / T;
  expectScalar('stats.tokenEntropy', r.stats.tokenEntropy, tokenEntropy, { abs: 1e-6, rel: 1e-5 });
  if (r.stats.dropped !== 0 || r.stats.deadExperts !== load.filter((n) => n === 0).length) throw new CaseFailure('stats.dropped / deadExperts');
  const auxOf = (first: number, n: number) => {
    let acc = 0;
    const counts = new Array(E).fill(0);
    for (let t = first; t < first + n; t++) for (let j = 0; j < k; j++) counts[want.indices[t * k + j]]++;
    for (let e = 0; e < E; e++) {
      let p = 0;
      for (let t = first; t < first + n; t++) p += want.probs[t * E + e];
      acc += p * counts[e];
    }
    return (E / (k * n * n)) * acc;
  };
  expectScalar('losses.aux', r.losses.aux, auxOf(0, T), { abs: 1e-6, rel: 1e-5 });
  if (s.sequenceLength) {
    const S = s.sequenceLength;
    let seq = 0;
    for (let b = 0; b < T / S; b++) seq += auxOf(b * S, S) / (T / S);
    expectScalar('losses.seqAux', r.losses.seqAux ?? NaN, seq, { abs: 1e-6, rel: 1e-5 });
  } else if (r.losses.seqAux !== undefined) {
    throw new CaseFailure('losses.seqAux present without sequenceLength');
  }
}

const SHAPES: RouteShape[] = [
  { name: 'exact ties → lower expert index, T33 E6 k3', T: 33, E: 6, k: 3, normalize: true, scale: 1, logits: tied },
  { name: 'k = E, T5 E7', T: 5, E: 7, k: 7, normalize: false, scale: 1, logits: gaussian },
  { name: 'T = 1, E16 k4, scale 2.5', T: 1, E: 16, k: 4, normalize: true, scale: 2.5, logits: gaussian },
  { name: 'sequences S8 × B4, E8 k2 (seqAux)', T: 32, E: 8, k: 2, normalize: false, scale: 1, sequenceLength: 8, logits: gaussian },
];

export const routeCases: ConformanceCase[] = SHAPES.map((s, i) => ({
  name: `route topk seed ${100 + i}: ${s.name}`,
  backends: ['reference', 'wasm', 'webgpu'] as const,
  run: (ctx: CaseContext) => runRoute(s, 100 + i, ctx),
}));
