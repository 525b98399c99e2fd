// Expert weights stored as f16 and as block-wise int8 (`createMoE(..., { weightDtype })`) on the wasm and
// WebGPU paths, in every runtime lane: the output against the dense oracle run on the same weights rounded
// the way the format rounds them (weight-formats.ts), so only the sums differ — and within the format's
// documented bound of the f32 output. Shapes cross whole and partial int8 blocks and both quad layouts.
import { expectExact, expectRelativeToNorm } from './compare.js';
import { denseMoE, type DenseMoE } from './oracle.js';
import { makeBlock, type Shape } from './random-moe.js';
import { f16RoundTrip, int8RoundTrip } from './weight-formats.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

type Dtype = 'f16' | 'int8';

/**
 * Against the oracle on rounded weights: f32 sums (1e-4, as the GPU's f32 path); wasm's int8 kernels also
 * round the activations to i16 per block of 32 (assembly/ffn/q8.ts), measured ≤ 6.3e-5 of the norm.
 */
const ROUNDED_BOUND = 2e-4;
/** Against the f32 oracle: the documented accuracy of each format (README, wasm-experts-dtype.test.ts). */
const F32_BOUND: Record<Dtype, number> = { f16: 2e-3, int8: 4e-2 };

const rounded = (m: DenseMoE, dtype: Dtype): DenseMoE => {
  const round = (a: Float32Array, cols: number) => (dtype === 'f16' ? f16RoundTrip(a) : int8RoundTrip(a, cols));
  return { ...m, gate: round(m.gate, m.dModel), up: round(m.up, m.dModel), down: round(m.down, m.dFF) };
};

/** Squared distance of got to want relative to want's norm (to tell which oracle a device matched). */
function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 1e-30;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function runDtype(shape: Shape, dtype: Dtype, ctx: CaseContext): Promise<void> {
  const { m, hidden } = makeBlock(shape);
  const { T, E, k, d, f } = shape;
  const want32 = denseMoE(m, hidden, T);
  const wantRounded = denseMoE(rounded(m, dtype), hidden, T);
  const moe = await ctx.api.createMoE(
    { dModel: d, router: { kind: 'topk', numExperts: E, topK: k, normalize: shape.normalize }, expert: { dFF: f, activation: 'swiglu' } },
    { 'router.weight': m.routerWeight, 'experts.gate': m.gate, 'experts.up': m.up, 'experts.down': m.down },
    { backend: ctx.backend, weightDtype: dtype },
  );
  try {
    const { output, routing } = await moe.forward(hidden, { tokens: T });
    if (routing.backend !== ctx.backend) throw new CaseFailure(`routing ran on ${routing.backend}, expected ${ctx.backend}`);
    expectExact('indices', routing.indices, want32.indices);
    expectRelativeToNorm('output vs f32 oracle', output, want32.output, F32_BOUND[dtype]);
    // A GPU without shader-f16 keeps f16 weights as f32 (documented): then it matches the f32 oracle instead.
    const fallback = dtype === 'f16' && ctx.backend === 'webgpu' && relL2(output, want32.output) < relL2(output, wantRounded.output);
    expectRelativeToNorm(fallback ? 'output vs f32 oracle (no shader-f16)' : `output vs ${dtype}-rounded oracle`, output,
      fallback ? want32.output : wantRounded.output, ROUNDED_BOUND);
  } finally {
    moe.destroy();
  }
}

const SHAPES: Shape[] = [
  { seed: 71, T: 1, d: 72, f: 40, E: 6, k: 2, normalize: true },
  { seed: 72, T: 33, d: 72, f: 40, E: 6, k: 2, normalize: true },
  { seed: 73, T: 9, d: 45, f: 19, E: 4, k: 3, normalize: false },
];

export const weightDtypeCases: ConformanceCase[] = (['f16', 'int8'] as const).flatMap((dtype) => SHAPES.map((s) => ({
  name: `${dtype} weights seed ${s.seed}: T${s.T} d${s.d} f${s.f} E${s.E} k${s.k}`,
  backends: ['wasm', 'webgpu'] as const,
  run: (ctx: CaseContext) => runDtype(s, dtype, ctx),
})));
