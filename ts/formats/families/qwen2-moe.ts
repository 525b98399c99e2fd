// Qwen2-MoE (model_type "qwen2_moe"): softmax → top-k, renormalised only with norm_topk_prob (default
// false), SwiGLU experts, plus a shared SwiGLU expert for every token scaled by σ(x · shared_expert_gate).
// Source: transformers models/qwen2_moe/modeling_qwen2_moe.py (Qwen2MoeSparseMoeBlock).
// Names relative to "model.layers.N.mlp.": gate.weight [E, d]; experts.gate_up_proj [E, 2·dFF, d] +
// experts.down_proj [E, d, dFF] (v5) or experts.N.{gate,up,down}_proj.weight (on disk);
// shared_expert.{gate,up}_proj.weight [sFF, d], shared_expert.down_proj.weight [d, sFF];
// shared_expert_gate.weight [1, d].

import { routers } from '../../routing/presets.js';
import {
  expertSizes, configBoolOr, configIntOr, gatedActivation, readSizedByDefault, sharedSwiglu, swigluExperts, takeF32, decoderPrefixes,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';
import { qwenMoeLayers } from './qwen-layers.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_experts', 'moe_intermediate_size');
  // 0 is a block without a shared expert: transformers then builds one of width 0, whose output is 0.
  const sharedFF = configIntOr(config, 'shared_expert_intermediate_size', 5632, 0); // Qwen2MoeConfig's default
  const activation = gatedActivation(config);
  const normTopkProb = configBoolOr(config, 'norm_topk_prob', false); // Qwen2MoeConfig's default
  return {
    config: {
      dModel,
      router: routers.qwen({ E: nExpert, k: topK, normTopkProb }),
      expert: { dFF, activation },
      ...(sharedFF > 0 ? { shared: { dFF: sharedFF, gated: true } } : {}),
    },
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
      ...(sharedFF > 0 ? {
        ...readSizedByDefault(config, 'shared_expert_intermediate_size', 5632, () => sharedSwiglu(ctx, 'shared_expert', sharedFF, dModel)),
        'shared.router': takeF32(ctx, 'shared_expert_gate.weight', [1, dModel]),
      } : {}),
    },
  };
}

export const qwen2Moe: Family = { convert, moeLayers: qwenMoeLayers, layerPrefixes: decoderPrefixes('mlp') };
