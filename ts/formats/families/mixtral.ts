// Mixtral (model_type "mixtral"): softmax over all experts → top-k → renormalise, SwiGLU experts.
// Source: transformers src/transformers/models/mixtral/modeling_mixtral.py (MixtralSparseMoeBlock,
// MixtralTopKRouter, MixtralExperts). Names relative to the block, e.g. "model.layers.3.block_sparse_moe.":
//   gate.weight [E, d]; experts.gate_up_proj [E, 2·dFF, d] + experts.down_proj [E, d, dFF] (transformers v5)
//   or experts.N.w1/w3/w2.weight (checkpoints on disk).

import type { MoEConfig } from '../../spec/types.js';
import { configInt, configMustBe, swigluExperts, takeF32, type CanonicalMoE, type FamilyContext } from './common.js';
import { SwitchyardError } from '../../errors.js';

export function mixtral(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const dModel = configInt(config, 'hidden_size');
  const dFF = configInt(config, 'intermediate_size');
  const nExpert = configInt(config, 'num_local_experts');
  const topK = configInt(config, 'num_experts_per_tok');
  if (topK > nExpert) {
    throw new SwitchyardError('config', 'config.num_experts_per_tok',
      `expected at most num_local_experts (${nExpert}), got ${topK}`);
  }
  // MixtralExperts applies ACT2FN[hidden_act] to the gate; only SiLU is the SwiGLU we run.
  configMustBe(config, 'hidden_act', 'silu');

  const moe: MoEConfig = {
    dModel,
    // Mixtral always renormalises the top-k probabilities (no norm_topk_prob switch).
    router: { kind: 'topk', numExperts: nExpert, topK, score: 'softmax', normalize: true },
    expert: { dFF, activation: 'swiglu' },
  };
  return {
    config: moe,
    weights: {
      'router.weight': takeF32(ctx, 'gate.weight', [nExpert, dModel]),
      ...swigluExperts(ctx, nExpert, dFF, dModel),
    },
  };
}
