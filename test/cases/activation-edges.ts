// Activations at the far end of f32, on every path against the reference: x·σ(x) for x ≈ −1e38 is 0, not
// x / 2.2e38 (the WASM exp once clamped its argument at 88.3 instead of overflowing to ∞, so silu(−1e38)
// came out −0.45); relu and swiglu-oai's clamps must keep a NaN from an overflowed sum (WGSL's max / min /
// clamp return the other operand), so the block refuses it as the other paths do instead of answering.
import { expectRelativeToNorm } from './compare.js';
import { normal, rng } from './rng.js';
import { int8RoundTrip } from './weight-formats.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

const d = 8;
const f = 8;
/** f32 rounding of the 0.73 left after the huge unit vanishes. */
const BOUND = 1e-5;
/** README's bound for int8 against the same rounded weights (WASM also rounds activations to i16). */
const INT8_SAME_WEIGHTS_BOUND = 2e-4;

type Activation = 'swiglu' | 'silu' | 'swiglu-oai';

/**
 * One expert, one token x = e₀: unit 0's pre-activation is `huge` (gate for the gated forms, up for silu),
 * unit 1's is 1; the other units are 0; every output sums units 0 and 1.
 */
function block(activation: Activation, huge: number) {
  const gated = activation !== 'silu';
  const pre = new Float32Array(f * d);
  pre[0] = huge;
  pre[d] = 1;
  const ones = new Float32Array(f * d);
  ones[0] = 1;
  ones[d] = 1;
  const down = new Float32Array(d * f);
  for (let j = 0; j < d; j++) down[j * f] = down[j * f + 1] = 1;
  const weights: Record<string, Float32Array> = {
    'router.weight': new Float32Array(d),
    'experts.up': gated ? ones : pre,
    'experts.down': down,
  };
  if (gated) weights['experts.gate'] = pre;
  const config = { dModel: d, router: { kind: 'topk' as const, numExperts: 1, topK: 1 }, expert: { dFF: f, activation } };
  return { config, weights };
}

async function outputOf(ctx: CaseContext, backend: CaseContext['backend'], activation: Activation, huge: number) {
  const { config, weights } = block(activation, huge);
  const moe = await ctx.api.createMoE(config, weights, { backend });
  try {
    const x = new Float32Array(d);
    x[0] = 1;
    return (await moe.forward(x, { tokens: 1 })).output;
  } finally {
    moe.destroy();
  }
}

async function vanishing(ctx: CaseContext): Promise<void> {
  for (const activation of ['swiglu', 'silu', 'swiglu-oai'] as const) {
    for (const huge of [-1e38, -1e36, -1e10]) {
      const want = await outputOf(ctx, 'reference', activation, huge);
      expectRelativeToNorm(`${activation} with a unit at ${huge}`, await outputOf(ctx, ctx.backend, activation, huge), want, BOUND);
    }
  }
}

/** relu / swiglu-oai over an up sum of ∞ − ∞ (NaN in f32; the reference's f64 sum is 1). */
async function nanThroughClamps(ctx: CaseContext): Promise<void> {
  for (const activation of ['relu', 'swiglu-oai'] as const) {
    const up = new Float32Array(f * d);
    up[0] = 1e20;
    up[1] = -1e20;
    up[2] = 1;
    const weights: Record<string, Float32Array> = {
      'router.weight': new Float32Array(d), 'experts.up': up, 'experts.down': new Float32Array(d * f).fill(1),
    };
    if (activation === 'swiglu-oai') weights['experts.gate'] = new Float32Array(f * d).fill(0.5);
    const moe = await ctx.api.createMoE({ dModel: d, router: { kind: 'topk', numExperts: 1, topK: 1 }, expert: { dFF: f, activation } }, weights, { backend: ctx.backend });
    const x = new Float32Array(d);
    x.set([1e20, 1e20, 1]);
    let caught: unknown;
    try {
      const r = await moe.forward(x, { tokens: 1 });
      caught = new CaseFailure(`${activation}: answered ${Array.from(r.output.subarray(0, 2)).join(', ')}… from an f32 sum that overflowed`);
    } catch (e) {
      caught = e;
    } finally {
      moe.destroy();
    }
    if (!(caught instanceof ctx.api.SwitchyardError) || caught.code !== 'range') {
      throw caught instanceof CaseFailure ? caught : new CaseFailure(`${activation}: expected SwitchyardError 'range', got ${String(caught)}`);
    }
  }
}

/**
 * int8 experts on activations near 1e-35 and 1e-36: WASM rounds each block of 32 to i16 by x · (32767 / amax),
 * whose factor overflowed to ∞ below amax ~1e-34 and saturated every value (outputs up to 4× off); and it
 * scaled each block's integer sum by sx · sw, a product below f32's normal range there (errors 3e-3 of the
 * output at 1e-36, against 4e-5 at any normal size). It must agree with the reference on the same
 * int8-rounded weights, as for activations of any other size. WebGPU is held to 3e-35 only: WGSL lets a GPU
 * flush subnormal values to zero (SwiftShader in Chromium does), and at 1e-36 some products x · w are
 * subnormal — 1.5e-2 of the output flushed away there.
 */
async function tinyInt8(ctx: CaseContext): Promise<void> {
  const sizes = ctx.backend === 'webgpu' ? [[35, 3e-35]] : [[35, 3e-35], [36, 1e-36], [37, 1e-36]];
  for (const [seed, size] of sizes) await int8AgainstRounded(ctx, seed, size, 0.2, `activations ~${size}`);
}

/**
 * int8 experts whose weights are small (|w| ~1e-3): each block's scale amax / 127 is then an f16
 * subnormal (below 2⁻¹⁴). Both paths keep scales as f16 bits; decoding them through a conversion that
 * flushes subnormals (WGSL allows it) would zero those blocks.
 */
async function smallInt8Weights(ctx: CaseContext): Promise<void> {
  for (const seed of [41, 42]) await int8AgainstRounded(ctx, seed, 1, 1e-3, 'weights ~1e-3 (subnormal f16 scales)');
}

/** An int8 block against the reference on the same int8-rounded weights (README's 2e-4 of the output's norm). */
async function int8AgainstRounded(ctx: CaseContext, seed: number, hiddenSize: number, weightSize: number, what: string): Promise<void> {
  const E = 2, dd = 64, ff = 32, T = 3;
  const random = rng(seed);
  const up = normal(random, E * ff * dd, weightSize), down = normal(random, E * dd * ff, weightSize);
  const router = normal(random, E * dd, 0.2);
  const config = { dModel: dd, router: { kind: 'topk' as const, numExperts: E, topK: 1 }, expert: { dFF: ff, activation: 'relu' as const } };
  const hidden = normal(random, T * dd, hiddenSize);
  const ref = await ctx.api.createMoE(config, {
    'router.weight': router, 'experts.up': int8RoundTrip(up, dd), 'experts.down': int8RoundTrip(down, ff),
  }, { backend: 'reference' });
  const moe = await ctx.api.createMoE(config, { 'router.weight': router, 'experts.up': up, 'experts.down': down }, { backend: ctx.backend, weightDtype: 'int8' });
  try {
    const want = (await ref.forward(hidden, { tokens: T })).output;
    expectRelativeToNorm(`int8 output, ${what} (seed ${seed})`, (await moe.forward(hidden, { tokens: T })).output, want, INT8_SAME_WEIGHTS_BOUND, 0);
  } finally {
    ref.destroy();
    moe.destroy();
  }
}

export const activationEdgeCases: ConformanceCase[] = [
  { name: 'int8 experts on activations near 1e-35 (and 1e-36 on wasm) agree with the reference on the same rounded weights', backends: ['wasm', 'webgpu'], run: tinyInt8 },
  { name: 'int8 experts with weights ~1e-3 (subnormal f16 block scales) agree with the reference on the same rounded weights', backends: ['wasm', 'webgpu'], run: smallInt8Weights },
  { name: 'activations: x·σ(x) of a pre-activation near −f32 max vanishes, as in the reference', backends: ['wasm', 'webgpu'], run: vanishing },
  { name: 'activations: relu and swiglu-oai clamps keep an overflowed (NaN) sum, which the block refuses', backends: ['wasm', 'webgpu'], run: nanThroughClamps },
];
