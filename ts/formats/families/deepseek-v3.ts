// DeepSeek-V3 (model_type "deepseek_v3"; also Kimi-K2 and Moonlight checkpoints): sigmoid scores, selection
// on scores + e_score_correction_bias inside the best topk_group of n_group groups (group score = sum of
// its top-2 biased scores, hard-coded in transformers), weights = unbiased scores, renormalised with
// norm_topk_prob, always × routed_scaling_factor; plus n_shared_experts ungated SwiGLU experts fused into
// one of width moe_intermediate_size · n_shared_experts.
// Source: transformers models/deepseek_v3/modeling_deepseek_v3.py (DeepseekV3MoE, DeepseekV3TopkRouter).
// Names relative to "model.layers.N.mlp.": gate.weight [E, d], gate.e_score_correction_bias [E];
// experts.gate_up_proj + experts.down_proj (v5) or experts.N.{gate,up,down}_proj.weight (on disk);
// shared_experts.{gate,up}_proj.weight [sFF, d], shared_experts.down_proj.weight [d, sFF].
// Experts outside the kept groups are −∞ here; transformers before PR #45441 filled them with 0.0 — the
// two differ only when every kept biased score is negative.
// MoE layers: i ≥ first_k_dense_replace and i % moe_layer_freq == 0 (DeepSeek's own modelling code;
// transformers has no moe_layer_freq, which equals its default 1).

import { SwitchyardError } from '../../errors.js';
import { routers } from '../../routing/presets.js';
import {
  expertSizes, configBoolOr, configInt, configIntOr, MAX_LAYERS, configMustBe, gatedActivation, configNumberOr, decoderPrefixes,
  readSizedByDefault, sharedSwiglu, swigluExperts, takeF32, type CanonicalMoE, type Family, type FamilyContext, type Stack,
} from './common.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'n_routed_experts', 'moe_intermediate_size');
  const activation = gatedActivation(config);
  // Released configs say so; transformers computes a sigmoid whatever they say, so anything else is refused.
  configMustBe(config, 'scoring_func', 'sigmoid');
  // DeepseekV3Config's defaults (DeepSeek-V3's own 8 and 4) where a config leaves them out, as transformers does.
  const nGroup = configIntOr(config, 'n_group', 8, 1);
  const topkGroup = configIntOr(config, 'topk_group', 4, 1);
  const given = (field: string) => (config[field] === undefined ? ' (DeepseekV3Config\'s default; the config has none)' : '');
  if (nExpert % nGroup !== 0) {
    throw new SwitchyardError('config', 'config.n_group', `expected a divisor of n_routed_experts (${nExpert}), got ${nGroup}${given('n_group')}`);
  }
  if (topkGroup > nGroup || topkGroup * (nExpert / nGroup) < topK) {
    throw new SwitchyardError('config', 'config.topk_group',
      `expected ≤ n_group (${nGroup}) groups holding at least num_experts_per_tok (${topK}) experts, got ${topkGroup}${given('topk_group')}`);
  }
  const scale = configNumberOr(config, 'routed_scaling_factor', 2.5); // DeepseekV3Config's default
  const normTopkProb = configBoolOr(config, 'norm_topk_prob', true); // DeepseekV3Config's default
  const nShared = configIntOr(config, 'n_shared_experts', 1); // DeepseekV3Config's default
  const sharedFF = dFF * nShared;
  return {
    config: {
      dModel,
      router: routers.deepseekV3({ E: nExpert, k: topK, nGroup, topkGroup, scale, normTopkProb }),
      expert: { dFF, activation },
      ...(nShared > 0 ? { shared: { dFF: sharedFF, gated: false } } : {}),
    },
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      'router.selection_bias': takeF32(ctx, 'gate.e_score_correction_bias', [nExpert]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
      ...(nShared > 0 ? readSizedByDefault(config, 'n_shared_experts', 1, () => sharedSwiglu(ctx, 'shared_experts', sharedFF, dModel)) : {}),
    },
  };
}

function moeLayers(config: Record<string, unknown>, stack: Stack): number[] {
  if (stack !== 'decoder') return [];
  const nLayer = configInt(config, 'num_hidden_layers', MAX_LAYERS);
  const firstMoE = configIntOr(config, 'first_k_dense_replace', 3); // DeepseekV3Config's default
  const freq = configIntOr(config, 'moe_layer_freq', 1, 1);
  const layers: number[] = [];
  for (let i = firstMoE; i < nLayer; i++) if (i % freq === 0) layers.push(i);
  return layers;
}

export const deepseekV3: Family = { convert, moeLayers, layerPrefixes: decoderPrefixes('mlp') };
