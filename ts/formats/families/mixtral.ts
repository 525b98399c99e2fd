// Mixtral (model_type "mixtral"): softmax over all experts → top-k → renormalise, SwiGLU experts.
// Source: transformers src/transformers/models/mixtral/modeling_mixtral.py (MixtralSparseMoeBlock,
// MixtralTopKRouter, MixtralExperts). Names relative to the block, e.g. "model.layers.3.block_sparse_moe.":
//   gate.weight [E, d]; experts.gate_up_proj [E, 2·dFF, d] + experts.down_proj [E, d, dFF] (transformers v5)
//   or experts.N.w1/w3/w2.weight (checkpoints on disk).
// Every decoder layer is a MoE layer.

import { routers } from '../../routing/presets.js';
import {
  expertSizes, gatedActivation, decoderPrefixes, everyDecoderLayer, swigluExperts, takeF32,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_local_experts', 'intermediate_size');
  const activation = gatedActivation(config);
  return {
    // Mixtral always renormalises the top-k probabilities (no norm_topk_prob switch).
    config: { dModel, router: routers.mixtral({ E: nExpert, k: topK }), expert: { dFF, activation } },
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
    },
  };
}

export const mixtral: Family = { convert, moeLayers: everyDecoderLayer, layerPrefixes: decoderPrefixes('block_sparse_moe') };
