// ../shared/goldens/megatron_*: Megatron-Core's TopKRouter (top-k variants, groups, expert bias, scaling,
// capacity and padding), its Sinkhorn routing and its aux / seq-aux / z losses, through route().
import { expectClose, expectExact, expectScalar, type Tolerance } from './compare.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';
import { goldenF32 as f32, goldenI32 as i32, type GoldenTensors as Tensors } from './golden-tensors.js';

interface MegatronConfig {
  num_moe_experts: number;
  moe_router_topk: number;
  moe_router_load_balancing_type: string | string[];
  moe_router_score_function: 'softmax' | 'sigmoid' | 'sqrtsoftplus';
  moe_router_pre_softmax: boolean;
  moe_router_num_groups: number | null;
  moe_router_group_topk: number | null;
  moe_router_topk_scaling_factor: number | null;
  moe_router_enable_expert_bias: boolean;
  moe_expert_capacity_factor: number | null;
  moe_token_drop_policy: 'probs' | 'position';
  moe_pad_expert_input_to_capacity: boolean;
}

interface GoldenCase {
  config: MegatronConfig;
  shapes: { T: number; E: number; k: number; seq_length_S?: number; batch_B?: number };
  tolerances: Record<string, Tolerance | 'exact'>;
}

type RouterSpec = Parameters<CaseContext['api']['route']>[0];

/** Megatron's TopKRouter configuration as a switchyard RouterSpec (DESIGN.md §3). */
export function megatronSpec(c: MegatronConfig, expertBias: Float32Array | undefined, withCapacity: boolean): RouterSpec {
  const E = c.num_moe_experts;
  const k = c.moe_router_topk;
  if (c.moe_router_load_balancing_type === 'sinkhorn') return { kind: 'sinkhorn', numExperts: E, topK: k };
  const score = c.moe_router_score_function === 'sqrtsoftplus' ? 'sqrt-softplus' : c.moe_router_score_function;
  // softmax without pre_softmax = top-k on logits then softmax over the k: the renormalised full softmax.
  // sigmoid: the k scores are renormalised only for k > 1.
  const normalize = score === 'softmax' ? !c.moe_router_pre_softmax : k > 1;
  return {
    kind: 'topk', numExperts: E, topK: k, score, normalize,
    scale: c.moe_router_topk_scaling_factor ?? 1,
    selectionBias: c.moe_router_enable_expert_bias ? expertBias : undefined,
    groups: c.moe_router_num_groups
      ? { count: c.moe_router_num_groups, topk: c.moe_router_group_topk!, on: score === 'softmax' && !c.moe_router_pre_softmax ? 'logits' : 'scores' }
      : undefined,
    capacity: withCapacity && c.moe_expert_capacity_factor !== null
      ? { factor: c.moe_expert_capacity_factor, dropPolicy: c.moe_token_drop_policy, padToCapacity: c.moe_pad_expert_input_to_capacity }
      : undefined,
  };
}

/** Dense [T, E] routing map and probs from a plan, padding rows included (they carry weight 0). */
function denseFromPlan(plan: { offsets: Int32Array; rows: Int32Array; weights: Float32Array }, T: number, E: number) {
  const map = new Int32Array(T * E);
  const probs = new Float32Array(T * E);
  for (let e = 0; e < E; e++) {
    for (let r = plan.offsets[e]; r < plan.offsets[e + 1]; r++) {
      map[plan.rows[r] * E + e] = 1;
      probs[plan.rows[r] * E + e] = plan.weights[r];
    }
  }
  return { map, probs };
}

function tolerance(c: GoldenCase, name: string): Tolerance {
  const t = c.tolerances[name];
  if (!t || t === 'exact') throw new CaseFailure(`case.json has no float tolerance for ${name}`);
  return t;
}

/** Megatron's loss cases store rows sequence-major (t = s·B + b); switchyard is batch-major (b·S + s). */
function toBatchMajor(rows: Float32Array | Int32Array, S: number, B: number, width: number): typeof rows {
  const out = new (rows.constructor as new (n: number) => typeof rows)(rows.length);
  for (let s = 0; s < S; s++) {
    for (let b = 0; b < B; b++) out.set(rows.subarray((s * B + b) * width, (s * B + b + 1) * width), (b * S + s) * width);
  }
  return out;
}

async function runMegatronGolden(name: string, ctx: CaseContext): Promise<void> {
  const { api } = ctx;
  const c = JSON.parse(new TextDecoder().decode(await ctx.readGolden(name, 'case.json'))) as GoldenCase;
  const tensors = api.readSafetensors(await ctx.readGolden(name, 'tensors.safetensors')).tensors as Tensors;
  const { T, E, k } = c.shapes;
  const S = c.shapes.seq_length_S;
  const B = c.shapes.batch_B;
  const batchMajor = <A extends Float32Array | Int32Array>(a: A, width: number): A => (S && B ? (toBatchMajor(a, S, B, width) as A) : a);
  const logits = batchMajor(f32(tensors, 'input.logits'), E);
  const bias = tensors.has('input.expert_bias') ? f32(tensors, 'input.expert_bias') : undefined;
  const spec = megatronSpec(c.config, bias, true);
  const r = await api.route(spec, { tokens: T, logits, sequenceLength: S }, { backend: ctx.backend });
  if (r.backend !== ctx.backend) throw new CaseFailure(`ran on ${r.backend}, expected ${ctx.backend}`);

  const { map, probs } = denseFromPlan(r.plan, T, E);
  expectExact('routing map (plan rows, padding included)', map, batchMajor(i32(tensors, 'expected.routing_map'), E));
  expectClose('probs (plan weights)', probs, batchMajor(f32(tensors, 'expected.probs'), E), tolerance(c, 'expected.probs'));
  const perExpert = Array.from({ length: E }, (_, e) => r.plan.offsets[e + 1] - r.plan.offsets[e]);
  const countsName = tensors.has('expected.routing_map_for_aux_loss') ? 'routing map for the aux loss' : 'plan rows';
  expectExact(`tokens per expert (${countsName})`, perExpert, i32(tensors, 'expected.tokens_per_expert'));

  if (tensors.has('expected.topk_indices')) {
    // Pre-capacity selection: the same router without capacity.
    const pre = await api.route(megatronSpec(c.config, bias, false), { tokens: T, logits }, { backend: ctx.backend });
    expectExact('pre-capacity top-k indices', pre.indices, i32(tensors, 'expected.topk_indices'));
    expectClose('pre-capacity top-k probs', pre.weights, f32(tensors, 'expected.topk_probs'), tolerance(c, 'expected.topk_probs'));
    const dropped = tensors.has('expected.dropped_assignments') ? i32(tensors, 'expected.dropped_assignments').reduce((a, b) => a + b, 0) : 0;
    if (r.stats.dropped !== dropped) throw new CaseFailure(`stats.dropped is ${r.stats.dropped}, expected ${dropped}`);
  }
  if (tensors.has('expected.eval_routing_map')) {
    // Megatron's eval path skips Sinkhorn: top-k of σ(z) (k = 1) or softmax(z), weights not renormalised.
    const evalSpec = { kind: 'topk' as const, numExperts: E, topK: k, score: k === 1 ? 'sigmoid' as const : 'softmax' as const };
    const ev = denseFromPlan((await api.route(evalSpec, { tokens: T, logits }, { backend: ctx.backend })).plan, T, E);
    expectExact('eval routing map', ev.map, i32(tensors, 'expected.eval_routing_map'));
    expectClose('eval probs', ev.probs, f32(tensors, 'expected.eval_probs'), tolerance(c, 'expected.eval_probs'));
  }
  if (tensors.has('expected.aux_loss')) {
    expectScalar('aux loss', r.losses.aux, f32(tensors, 'expected.aux_loss')[0], tolerance(c, 'expected.aux_loss'));
    expectScalar('seq aux loss', r.losses.seqAux ?? NaN, f32(tensors, 'expected.seq_aux_loss')[0], tolerance(c, 'expected.seq_aux_loss'));
    expectScalar('z loss', r.losses.z, f32(tensors, 'expected.z_loss')[0], tolerance(c, 'expected.z_loss'));
  }
}

const MEGATRON_CASES = [
  'megatron_losses', 'megatron_losses_sigmoid', 'megatron_sinkhorn_top1', 'megatron_sinkhorn_top2',
  'megatron_topk_group_sigmoid_bias_scaled', 'megatron_topk_group_softmax_cap1_probs',
  'megatron_topk_sigmoid_bias_cap1_position_pad', 'megatron_topk_sigmoid_bias_cap1_probs',
  'megatron_topk_softmax_cap1_position', 'megatron_topk_softmax_cap1_position_pad',
  'megatron_topk_softmax_cap1_probs', 'megatron_topk_softmax_cap1_probs_pad',
  'megatron_topk_softmax_nocap', 'megatron_topk_softmax_presoftmax_nocap',
];

export const megatronCases: ConformanceCase[] = MEGATRON_CASES.map((name) => ({
  name: `golden ${name} (Megatron-Core TopKRouter)`,
  backends: ['reference', 'wasm'] as const,
  run: (ctx: CaseContext) => runMegatronGolden(name, ctx),
}));
