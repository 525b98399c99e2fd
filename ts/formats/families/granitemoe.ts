// Granite-MoE (model_type "granitemoe"): top-k on the logits, softmax over the k (= softmax, top-k,
// renormalise), SwiGLU experts in JetMoE's parallel-experts layout.
// Source: transformers models/granitemoe/modeling_granitemoe.py (GraniteMoeMoE, GraniteMoeTopKGating,
// GraniteMoeParallelExperts). Names relative to "model.layers.N.block_sparse_moe.": router.layer.weight
// [E, d]; input_linear.weight [E, 2·dFF, d], split by chunk(2) with the gate half first;
// output_linear.weight [E, d, dFF]. Every decoder layer is a MoE layer.

import { routers } from '../../routing/presets.js';
import {
  expertSizes, gatedActivation, decoderPrefixes, everyDecoderLayer, splitGateFirst, takeF32, takeWeight,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_local_experts', 'intermediate_size');
  const activation = gatedActivation(config);
  const { gate, up } = splitGateFirst(takeWeight(ctx, 'input_linear.weight', [nExpert, 2 * dFF, dModel]), nExpert, dFF, dModel);
  return {
    config: { dModel, router: routers.granite({ E: nExpert, k: topK }), expert: { dFF, activation } },
    weights: {
      'router.weight': takeF32(ctx, 'router.layer.weight', [nExpert, dModel]),
      'experts.gate': gate,
      'experts.up': up,
      'experts.down': takeWeight(ctx, 'output_linear.weight', [nExpert, dModel, dFF]),
    },
  };
}

export const granitemoe: Family = { convert, moeLayers: everyDecoderLayer, layerPrefixes: decoderPrefixes('block_sparse_moe') };
