// Qwen3-MoE (model_type "qwen3_moe"): the Qwen2-MoE router (softmax → top-k, renormalised with
// norm_topk_prob, default false) without a shared expert. Source: transformers models/qwen3_moe/
// modeling_qwen3_moe.py (Qwen3MoeSparseMoeBlock). Names relative to "model.layers.N.mlp.": gate.weight
// [E, d]; experts.gate_up_proj + experts.down_proj (v5) or experts.N.{gate,up,down}_proj.weight (on disk).

import { routers } from '../../routing/presets.js';
import {
  expertSizes, configBoolOr, gatedActivation, decoderPrefixes, swigluExperts, takeF32,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';
import { qwenMoeLayers } from './qwen-layers.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_experts', 'moe_intermediate_size');
  const activation = gatedActivation(config);
  const normTopkProb = configBoolOr(config, 'norm_topk_prob', false); // Qwen3MoeConfig's default
  return {
    config: { dModel, router: routers.qwen({ E: nExpert, k: topK, normTopkProb }), expert: { dFF, activation } },
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
    },
  };
}

export const qwen3Moe: Family = { convert, moeLayers: qwenMoeLayers, layerPrefixes: decoderPrefixes('mlp') };
