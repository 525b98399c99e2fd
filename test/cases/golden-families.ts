// ../shared/goldens/{qwen2_moe, olmoe, deepseek_v3, switch_cf1, switch_cf2, gpt_oss, granitemoe} through
// fromHuggingFace (Mixtral has its own file, golden-mixtral.ts): the block output, router logits, probs,
// top-k ids and weights, aux loss and z loss of Hugging Face transformers' MoE blocks, within each case's
// tolerances. Only the registry's `api` is used, so this file bundles for Deno, Chromium and workerd.
//
// What the goldens README fixes per family:
// - DeepSeek-V3 returns its top-k unordered (topk(sorted=False)); the stored order is canonicalised, so ids
//   are compared as sets: both sides sorted by expert id, weights carried along.
// - HF's load_balancing_loss_func counts every top-k slot: its aux loss is k × ours. DeepSeek-V3 has none.
// - Switch (HF v4.57.6): expected.topk_indices is the argmax before the capacity check; a dropped token is
//   −1 with weight 0 here. Its aux loss averages over groups, so it is k × our seqAux (sequenceLength = S);
//   the value on the pre-drop choice is expected.aux_loss_predrop (expected.aux_loss counts dropped tokens
//   as expert 0, an artefact of argmax over an all-zero row, which we do not reproduce).
// - z loss: Switch stores it; elsewhere it is recomputed in f64 from the golden logits.
import { expectClose, expectExact, expectScalar, type Tolerance } from './compare.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';
import { goldenF32 as f32, goldenI32 as i32, type GoldenTensors as Tensors } from './golden-tensors.js';

interface GoldenCase {
  family: string;
  config: Record<string, unknown>;
  shapes: { T: number; E: number; k: number; tokens_per_group_S?: number };
  tolerances: Record<string, Tolerance | 'exact'>;
}

/** The losses' tolerance of the goldens README (f32 compute), for the z loss recomputed here. */
const LOSS_TOLERANCE: Tolerance = { abs: 1e-6, rel: 1e-5 };

function tolerance(c: GoldenCase, name: string): Tolerance {
  const t = c.tolerances[name];
  if (!t || t === 'exact') throw new CaseFailure(`case.json has no float tolerance for ${name}`);
  return t;
}

/** mean_t logsumexp(z_t)², in f64. */
function zLossOf(logits: Float32Array, T: number, E: number): number {
  let acc = 0;
  for (let t = 0; t < T; t++) {
    let max = -Infinity;
    for (let e = 0; e < E; e++) max = Math.max(max, logits[t * E + e]);
    let sum = 0;
    for (let e = 0; e < E; e++) sum += Math.exp(logits[t * E + e] - max);
    const lse = max + Math.log(sum);
    acc += lse * lse;
  }
  return acc / T;
}

/** Each token's (id, weight) pairs sorted by id: compares top-k selections as sets, weights aligned. */
function sortedById(ids: ArrayLike<number>, weights: ArrayLike<number>, T: number, k: number): { ids: Int32Array; weights: Float32Array } {
  const outIds = new Int32Array(T * k);
  const outWeights = new Float32Array(T * k);
  for (let t = 0; t < T; t++) {
    const order = Array.from({ length: k }, (_, j) => t * k + j).sort((a, b) => ids[a] - ids[b]);
    order.forEach((src, j) => {
      outIds[t * k + j] = ids[src];
      outWeights[t * k + j] = weights[src];
    });
  }
  return { ids: outIds, weights: outWeights };
}

interface FamilyCase {
  golden: string;
  label: string;
  /** Top-k ids compared as sets (unordered reference top-k). */
  unordered?: boolean;
  /** Switch: capacity per sequence, dropped tokens. */
  switchCapacity?: boolean;
}

async function runFamilyGolden(ctx: CaseContext, fc: FamilyCase): Promise<void> {
  const { api } = ctx;
  const c = JSON.parse(new TextDecoder().decode(await ctx.readGolden(fc.golden, 'case.json'))) as GoldenCase;
  const file = api.readSafetensors(await ctx.readGolden(fc.golden, 'tensors.safetensors'));
  const g = file.tensors as Tensors;
  const { T, E, k } = c.shapes;
  const has = (name: string): boolean => g.has(name);
  const moe = await api.fromHuggingFace({ config: c.config, tensors: file, modelType: c.family }, { backend: ctx.backend });
  try {
    if (moe.backend !== ctx.backend) throw new CaseFailure(`ran on ${moe.backend}, expected ${ctx.backend}`);
    const sequenceLength = fc.switchCapacity ? c.shapes.tokens_per_group_S : undefined;
    const { output, routing } = await moe.forward(f32(g, 'input.hidden'), { tokens: T, sequenceLength });
    // The WebGPU block hands routers it cannot run on the device (groups, selection bias, capacity) to a CPU
    // path and runs the experts itself; every other lane routes where it runs.
    const routedOn = ctx.backend === 'webgpu' ? ['webgpu', 'wasm', 'reference'] : [ctx.backend];
    if (!routedOn.includes(routing.backend)) throw new CaseFailure(`routing ran on ${routing.backend}, expected ${routedOn.join(' or ')}`);

    let wantIds: ArrayLike<number> = i32(g, 'expected.topk_indices');
    let wantWeights: ArrayLike<number> = f32(g, 'expected.topk_weights');
    if (fc.switchCapacity) {
      const dropped = i32(g, 'expected.dropped');
      wantIds = Int32Array.from(wantIds, (e, t) => (dropped[t] ? -1 : e));
      wantWeights = Float32Array.from(wantWeights, (w, t) => (dropped[t] ? 0 : w));
      expectExact('tokens per expert', routing.stats.load, i32(g, 'expected.tokens_per_expert'));
      expectExact('dropped count', [routing.stats.dropped], [dropped.reduce((a, b) => a + b, 0)]);
    }
    let gotIds: ArrayLike<number> = routing.indices;
    let gotWeights: ArrayLike<number> = routing.weights;
    if (fc.unordered) {
      const got = sortedById(gotIds, gotWeights, T, k);
      const want = sortedById(wantIds, wantWeights, T, k);
      [gotIds, gotWeights, wantIds, wantWeights] = [got.ids, got.weights, want.ids, want.weights];
    }
    expectExact(fc.unordered ? 'indices (as sets)' : 'indices', gotIds, wantIds);
    expectClose('router logits', routing.logits, f32(g, 'expected.router_logits'), tolerance(c, 'expected.router_logits'));
    if (has('expected.router_probs')) {
      expectClose('probs', routing.probs, f32(g, 'expected.router_probs'), tolerance(c, 'expected.router_probs'));
    }
    expectClose('weights', gotWeights, wantWeights, tolerance(c, 'expected.topk_weights'));
    if (has('expected.tokens_per_expert') && !fc.switchCapacity) {
      expectExact('tokens per expert', routing.stats.load, i32(g, 'expected.tokens_per_expert'));
    }
    expectClose('output', output, f32(g, 'expected.output'), tolerance(c, 'expected.output'));
    if (fc.switchCapacity) {
      if (routing.losses.seqAux === undefined) throw new CaseFailure('no seqAux although sequenceLength was given');
      expectScalar('seqAux × k', routing.losses.seqAux * k, f32(g, 'expected.aux_loss_predrop')[0], tolerance(c, 'expected.aux_loss_predrop'));
      expectScalar('z loss', routing.losses.z, f32(g, 'expected.z_loss')[0], tolerance(c, 'expected.z_loss'));
    } else {
      if (has('expected.aux_loss')) {
        expectScalar('aux loss × k', routing.losses.aux * k, f32(g, 'expected.aux_loss')[0], tolerance(c, 'expected.aux_loss'));
      }
      expectScalar('z loss', routing.losses.z, zLossOf(f32(g, 'expected.router_logits'), T, E), LOSS_TOLERANCE);
    }
  } finally {
    moe.destroy();
  }
}

const FAMILY_CASES: FamilyCase[] = [
  { golden: 'qwen2_moe', label: 'HF Qwen2MoeSparseMoeBlock, T16 d64 f48 shared96 σ-gated, E8 k4, no renorm' },
  { golden: 'olmoe', label: 'HF OlmoeSparseMoeBlock, T16 d64 f32 E16 k4, no renorm' },
  { golden: 'deepseek_v3', label: 'HF DeepseekV3MoE, T16 d64 f32 E16 k4, sigmoid, bias, 4 groups keep 2, ×2.5, 1 shared', unordered: true },
  { golden: 'switch_cf1', label: 'HF-v4 SwitchTransformersSparseMLP, T32 S32 d64 f128 E4 top-1, capacity 8 (5 dropped)', switchCapacity: true },
  { golden: 'switch_cf2', label: 'HF-v4 SwitchTransformersSparseMLP, T32 S32 d64 f128 E4 top-1, capacity 16', switchCapacity: true },
  { golden: 'gpt_oss', label: 'HF GptOssMLP, T16 d64 f64 E8 k2, router bias, interleaved clamped SwiGLU, expert biases' },
  { golden: 'granitemoe', label: 'HF GraniteMoeMoE, T16 d64 f32 E8 k2, parallel experts' },
];

export const familyGoldenCases: ConformanceCase[] = FAMILY_CASES.map((fc) => ({
  name: `golden ${fc.golden} (${fc.label})`,
  backends: ['reference', 'wasm', 'webgpu'],
  run: (ctx: CaseContext) => runFamilyGolden(ctx, fc),
}));
