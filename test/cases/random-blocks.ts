// Seeded blocks with every expert function, expert biases, shared experts and every router kind: the
// fast paths against the reference path (the oracle) through the public API, same weights, same input.
import { expectClose, expectExact, expectRelativeToNorm } from './compare.js';
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase, type LaneBackend } from './types.js';

type Api = CaseContext['api'];
type Config = Parameters<Api['createMoE']>[0];
type Activation = Config['expert']['activation'];

/** f32 paths against the f64-accumulating reference, relative to the output's norm (three GEMMs deep). */
const OUTPUT_BOUND: Record<LaneBackend, number> = { reference: 0, wasm: 1e-5, webgpu: 1e-4 };
const WEIGHT_TOLERANCE = { abs: 1e-6, rel: 1e-5 };

interface BlockShape {
  seed: number;
  T: number;
  d: number;
  f: number;
  E: number;
  k: number;
  activation: Activation;
  bias: boolean;
  shared?: { dFF: number; gated: boolean };
  router: 'topk' | 'deepseek' | 'switch' | 'hash' | 'expert-choice' | 'sinkhorn';
  S?: number;
}

function routerOf(s: BlockShape): Config['router'] {
  const { E, k } = s;
  switch (s.router) {
    case 'topk': return { kind: 'topk', numExperts: E, topK: k, normalize: true };
    case 'deepseek': return { kind: 'topk', numExperts: E, topK: k, score: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 2, topk: 1, scoreTopN: 2 } };
    case 'switch': return { kind: 'topk', numExperts: E, topK: 1, capacity: { factor: 1, dropPolicy: 'position', per: 'sequence' } };
    case 'hash': return { kind: 'hash', numExperts: E, topK: k, seed: 7 };
    case 'expert-choice': return { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 2, minCapacity: 1 };
    case 'sinkhorn': return { kind: 'sinkhorn', numExperts: E, topK: k };
  }
}

function weightsOf(s: BlockShape, random: () => number): Record<string, Float32Array> {
  const { E, d, f } = s;
  const gated = s.activation === 'swiglu' || s.activation === 'geglu' || s.activation === 'swiglu-oai';
  const w: Record<string, Float32Array> = {
    'router.weight': normal(random, E * d, 1 / Math.sqrt(d)),
    'experts.up': normal(random, E * f * d, 1 / Math.sqrt(d)),
    'experts.down': normal(random, E * d * f, 1 / Math.sqrt(f)),
  };
  if (gated) w['experts.gate'] = normal(random, E * f * d, 2 / Math.sqrt(d));
  if (s.bias) {
    if (gated) w['experts.gate_bias'] = normal(random, E * f, 0.5);
    w['experts.up_bias'] = normal(random, E * f, 0.5);
    w['experts.down_bias'] = normal(random, E * d, 0.5);
  }
  if (s.shared) {
    const g = s.shared.dFF;
    if (gated) w['shared.gate'] = normal(random, g * d, 1 / Math.sqrt(d));
    w['shared.up'] = normal(random, g * d, 1 / Math.sqrt(d));
    w['shared.down'] = normal(random, d * g, 1 / Math.sqrt(g));
    if (s.shared.gated) w['shared.router'] = normal(random, d, 1 / Math.sqrt(d));
  }
  return w;
}

async function runBlock(s: BlockShape, ctx: CaseContext): Promise<void> {
  const random = rng(s.seed);
  const config: Config = { dModel: s.d, router: routerOf(s), expert: { dFF: s.f, activation: s.activation, bias: s.bias }, shared: s.shared };
  const weights = weightsOf(s, random);
  const hidden = normal(random, s.T * s.d, 1.5);
  const tokenIds = Int32Array.from({ length: s.T }, () => Math.floor(random() * 1000));
  const options = { tokens: s.T, tokenIds, sequenceLength: s.S };
  const oracle = await ctx.api.createMoE(config, weights, { backend: 'reference' });
  const fast = await ctx.api.createMoE(config, weights, { backend: ctx.backend });
  try {
    if (fast.backend !== ctx.backend) throw new CaseFailure(`block runs on ${fast.backend}, expected ${ctx.backend}`);
    const want = await oracle.forward(hidden, options);
    const got = await fast.forward(hidden, options);
    expectExact('indices', got.routing.indices, want.routing.indices);
    expectClose('weights', got.routing.weights, want.routing.weights, WEIGHT_TOLERANCE);
    expectRelativeToNorm('output', got.output, want.output, OUTPUT_BOUND[ctx.backend]);
  } finally {
    oracle.destroy();
    fast.destroy();
  }
}

const SHAPES: BlockShape[] = [
  { seed: 401, T: 7, d: 13, f: 19, E: 4, k: 2, activation: 'geglu', bias: true, router: 'topk' },
  { seed: 402, T: 9, d: 24, f: 17, E: 4, k: 2, activation: 'swiglu-oai', bias: true, router: 'topk' },
  { seed: 403, T: 16, d: 20, f: 33, E: 4, k: 1, activation: 'relu', bias: false, router: 'switch', S: 8 },
  { seed: 404, T: 5, d: 16, f: 24, E: 8, k: 3, activation: 'swiglu', bias: false, shared: { dFF: 40, gated: true }, router: 'topk' },
  { seed: 405, T: 1, d: 16, f: 12, E: 8, k: 4, activation: 'swiglu', bias: false, shared: { dFF: 24, gated: false }, router: 'deepseek' },
  { seed: 406, T: 11, d: 10, f: 14, E: 6, k: 2, activation: 'gelu', bias: true, router: 'hash' },
  { seed: 407, T: 12, d: 12, f: 9, E: 4, k: 4, activation: 'silu', bias: false, router: 'expert-choice' },
  { seed: 408, T: 13, d: 18, f: 21, E: 5, k: 2, activation: 'swiglu', bias: false, router: 'sinkhorn' },
];

export const randomBlockCases: ConformanceCase[] = SHAPES.map((s) => ({
  name: `block seed ${s.seed}: ${s.activation}${s.bias ? '+bias' : ''}${s.shared ? ` shared${s.shared.gated ? '(σ)' : ''}` : ''}, ${s.router} router, T${s.T} d${s.d} f${s.f} E${s.E}`,
  backends: ['wasm', 'webgpu'] as const,
  run: (ctx: CaseContext) => runBlock(s, ctx),
}));
