// OLMoE (model_type "olmoe"): softmax → top-k, renormalised only with norm_topk_prob (default false),
// SwiGLU experts, no shared expert. Source: transformers models/olmoe/modeling_olmoe.py (OlmoeSparseMoeBlock).
// Names relative to "model.layers.N.mlp.": gate.weight [E, d]; experts.gate_up_proj [E, 2·dFF, d] +
// experts.down_proj [E, d, dFF] (v5) or experts.N.{gate,up,down}_proj.weight (on disk).
// Every decoder layer is a MoE layer.

import { routers } from '../../routing/presets.js';
import {
  expertSizes, configBoolOr, gatedActivation, decoderPrefixes, everyDecoderLayer, swigluExperts, takeF32,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_experts', 'intermediate_size');
  const activation = gatedActivation(config);
  // OlmoeConfig's default for norm_topk_prob is False.
  const normTopkProb = configBoolOr(config, 'norm_topk_prob', false);
  return {
    config: { dModel, router: routers.olmoe({ E: nExpert, k: topK, normTopkProb }), expert: { dFF, activation } },
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
    },
  };
}

export const olmoe: Family = { convert, moeLayers: everyDecoderLayer, layerPrefixes: decoderPrefixes('mlp') };
