// config.shared.gated left out: DESIGN.md writes `shared: { dFF, gated }` without a default, so the block
// reads it from the weights — σ-gated exactly when 'shared.router' is given (as Qwen2-MoE's checkpoints
// carry it and DeepSeek's do not). Each must equal the block with `gated` spelled out, bit for bit, on
// the same path.
import { expectExact } from './compare.js';
import { normal, rng } from './rng.js';
import { swigluWeights } from './swiglu-weights.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

const d = 12;
const f = 10;
const fShared = 6;
const E = 4;
const T = 5;

async function forwardOf(ctx: CaseContext, gated: boolean | undefined, w: Record<string, Float32Array>, hidden: Float32Array) {
  const config = {
    dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' as const },
    shared: gated === undefined ? { dFF: fShared } : { dFF: fShared, gated },
  };
  const moe = await ctx.api.createMoE(config as never, w, { backend: ctx.backend });
  try {
    const r = await moe.forward(hidden, { tokens: T });
    if (r.routing.backend !== ctx.backend) throw new CaseFailure(`ran on ${r.routing.backend}, expected ${ctx.backend}`);
    return r.output;
  } finally {
    moe.destroy();
  }
}

async function run(ctx: CaseContext): Promise<void> {
  const random = rng(47);
  const ungated: Record<string, Float32Array> = {
    ...swigluWeights(random, { E, d, f }),
    'shared.gate': normal(random, fShared * d, 0.3),
    'shared.up': normal(random, fShared * d, 0.3),
    'shared.down': normal(random, d * fShared, 0.3),
  };
  const gated = { ...ungated, 'shared.router': normal(random, d, 0.5) };
  const hidden = normal(random, T * d, 1);
  expectExact('output without gated, shared.router given', await forwardOf(ctx, undefined, gated, hidden), await forwardOf(ctx, true, gated, hidden));
  expectExact('output without gated, no shared.router', await forwardOf(ctx, undefined, ungated, hidden), await forwardOf(ctx, false, ungated, hidden));
}

export const sharedGatedCases: ConformanceCase[] = [{
  name: 'shared expert: gated left out follows whether shared.router is given',
  backends: ['reference', 'wasm', 'webgpu'],
  run,
}];
