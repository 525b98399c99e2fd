// ../shared/goldens/mixtral through fromHuggingFace: Hugging Face transformers' MixtralSparseMoeBlock
// output, router logits, probs, top-k ids (exact) and weights, aux loss (HF's value is k × ours) and the
// z-loss recomputed in f64 from the golden logits.
import { expectClose, expectExact, expectScalar, type Tolerance } from './compare.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';
import { goldenF32, goldenI32, type GoldenTensors } from './golden-tensors.js';

interface GoldenCase {
  family: string;
  config: Record<string, unknown>;
  shapes: { T: number; E: number; k: number; d_model: number };
  tolerances: Record<string, Tolerance | 'exact'>;
}

function tolerance(c: GoldenCase, name: string): Tolerance {
  const t = c.tolerances[name];
  if (!t || t === 'exact') throw new CaseFailure(`case.json has no float tolerance for ${name}`);
  return t;
}

/** The losses' tolerance of the goldens README (f32 compute). */
const LOSS_TOLERANCE: Tolerance = { abs: 1e-6, rel: 1e-5 };

function zLossOf(logits: Float32Array, T: number, E: number): number {
  let acc = 0;
  for (let t = 0; t < T; t++) {
    const row = Array.from(logits.subarray(t * E, (t + 1) * E));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, z) => a + Math.exp(z - max), 0));
    acc += lse * lse;
  }
  return acc / T;
}

async function runMixtralGolden(ctx: CaseContext): Promise<void> {
  const { api } = ctx;
  const c = JSON.parse(new TextDecoder().decode(await ctx.readGolden('mixtral', 'case.json'))) as GoldenCase;
  const file = api.readSafetensors(await ctx.readGolden('mixtral', 'tensors.safetensors'));
  const tensors = file.tensors as GoldenTensors;
  const f32 = (name: string): Float32Array => goldenF32(tensors, name);
  const i32 = (name: string): Int32Array => goldenI32(tensors, name);
  const { T, E, k } = c.shapes;
  const moe = await api.fromHuggingFace({ config: c.config, tensors: file, modelType: c.family }, { backend: ctx.backend });
  try {
    if (moe.backend !== ctx.backend) throw new CaseFailure(`ran on ${moe.backend}, expected ${ctx.backend}`);
    const { output, routing } = await moe.forward(f32('input.hidden'), { tokens: T });
    if (routing.backend !== ctx.backend) throw new CaseFailure(`routing ran on ${routing.backend}, expected ${ctx.backend}`);
    expectExact('indices', routing.indices, i32('expected.topk_indices'));
    expectClose('router logits', routing.logits, f32('expected.router_logits'), tolerance(c, 'expected.router_logits'));
    expectClose('probs', routing.probs, f32('expected.router_probs'), tolerance(c, 'expected.router_probs'));
    expectClose('weights', routing.weights, f32('expected.topk_weights'), tolerance(c, 'expected.topk_weights'));
    expectClose('output', output, f32('expected.output'), tolerance(c, 'expected.output'));
    // Hugging Face's load_balancing_loss_func counts every top-k slot: its value is k × Megatron's form.
    expectScalar('aux loss × k', routing.losses.aux * k, f32('expected.aux_loss')[0], tolerance(c, 'expected.aux_loss'));
    expectScalar('z loss', routing.losses.z, zLossOf(f32('expected.router_logits'), T, E), LOSS_TOLERANCE);
  } finally {
    moe.destroy();
  }
}

export const goldenCases: ConformanceCase[] = [
  { name: 'golden mixtral (HF MixtralSparseMoeBlock, T16 d64 f96 E8 k2)', backends: ['reference', 'wasm', 'webgpu'], run: runMixtralGolden },
];
