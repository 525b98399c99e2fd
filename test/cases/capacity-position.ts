// Capacity with dropPolicy 'position' when one capacity group holds several sequences (per 'batch' with
// sequenceLength S): each expert keeps its routed tokens earliest in time — position s first, then
// sequence b — as Megatron-Core's sequence-major token order does (reference/routers.md §1.9), not the
// earliest sequences. The oracle: a plain top-k per token, then per expert a sort by (s, b) and the first C.
import { expectExact } from './compare.js';
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

interface Shape { T: number; S: number; E: number; k: number; factor: number }

const SHAPES: Shape[] = [
  { T: 4, S: 2, E: 2, k: 1, factor: 1 },
  { T: 24, S: 6, E: 4, k: 2, factor: 0.75 },
  { T: 40, S: 8, E: 8, k: 3, factor: 0.5 },
];

/** Top-k of each row (ties to the lower expert), then capacity by time; returns indices [T, k] with −1 dropped. */
function oracle(logits: Float32Array, { T, S, E, k, factor }: Shape): Int32Array {
  const indices = new Int32Array(T * k);
  for (let t = 0; t < T; t++) {
    const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => logits[t * E + b] - logits[t * E + a] || a - b);
    indices.set(order.slice(0, k), t * k);
  }
  const C = Math.ceil(((T * k) / E) * factor);
  const B = T / S;
  const time = (t: number) => (t % S) * B + Math.floor(t / S);
  for (let e = 0; e < E; e++) {
    const slots = [];
    for (let s = 0; s < T * k; s++) if (indices[s] === e) slots.push(s);
    slots.sort((a, b) => time(Math.floor(a / k)) - time(Math.floor(b / k)));
    for (const s of slots.slice(C)) indices[s] = -1;
  }
  return indices;
}

async function run(shape: Shape, seed: number, ctx: CaseContext): Promise<void> {
  const { T, S, E, k, factor } = shape;
  const logits = normal(rng(seed), T * E, 2);
  const r = await ctx.api.route(
    { kind: 'topk', numExperts: E, topK: k, capacity: { factor, dropPolicy: 'position' } },
    { tokens: T, sequenceLength: S, logits },
    { backend: ctx.backend },
  );
  const want = oracle(logits, shape);
  expectExact('indices', r.indices, want);
  const kept = want.reduce((n, e) => n + (e >= 0 ? 1 : 0), 0);
  if (r.stats.dropped !== T * k - kept) throw new CaseFailure(`stats.dropped ${r.stats.dropped}, expected ${T * k - kept}`);
}

export const capacityPositionCases: ConformanceCase[] = SHAPES.map((shape, i) => ({
  name: `capacity 'position' over ${shape.T / shape.S} sequences of ${shape.S}: earliest positions first (E${shape.E} k${shape.k} factor ${shape.factor}, seed ${71 + i})`,
  backends: ['reference', 'wasm', 'webgpu'],
  run: (ctx: CaseContext) => run(shape, 71 + i, ctx),
}));
