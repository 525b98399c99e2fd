// GPT-OSS (model_type "gpt_oss"): top-k on the raw logits + router bias, softmax over the k (= softmax,
// top-k, renormalise); experts with biases and the clamped SwiGLU (1 + clamp(up, ±limit)) · g · σ(α g),
// g = min(gate, limit), α = 1.702 (hard-coded), limit = swiglu_limit.
// Source: transformers models/gpt_oss/modeling_gpt_oss.py (GptOssMLP, GptOssTopKRouter, GptOssExperts).
// Names relative to "model.layers.N.mlp.": router.weight [E, d], router.bias [E];
// experts.gate_up_proj [E, d, 2·dFF] used as x · W with gate / up INTERLEAVED along the last axis (even
// columns gate, odd up), experts.gate_up_proj_bias [E, 2·dFF] interleaved likewise;
// experts.down_proj [E, dFF, d] used as h · W, experts.down_proj_bias [E, d].
// The released checkpoints store experts as MXFP4 (…_blocks / …_scales, u8): not read in this version.
// Every decoder layer is a MoE layer.

import { SwitchyardError } from '../../errors.js';
import { routers } from '../../routing/presets.js';
import {
  expertSizes, configNumberOr, decoderPrefixes, everyDecoderLayer, hasTensor, takeF32,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';

/** modeling_gpt_oss hard-codes alpha = 1.702 in GptOssExperts. */
const SWIGLU_ALPHA = 1.702;

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_local_experts', 'intermediate_size');
  // GptOssConfig's default. transformers' eager GptOssExperts hard-codes 7.0 whatever the config says; OpenAI's
  // reference model and transformers' MXFP4 path read swiglu_limit, as here. Released configs all say 7.0.
  const limit = configNumberOr(config, 'swiglu_limit', 7);
  if (!hasTensor(ctx, 'experts.gate_up_proj') && hasTensor(ctx, 'experts.gate_up_proj_blocks')) {
    throw new SwitchyardError('dtype', `${ctx.prefix}experts.gate_up_proj_blocks`,
      'expected dequantised experts (experts.gate_up_proj, f32/f16/bf16), got MXFP4 blocks, which this version does not read');
  }
  const gateUp = takeF32(ctx, 'experts.gate_up_proj', [nExpert, dModel, 2 * dFF]); // [E, d, 2·dFF]
  const gateUpBias = takeF32(ctx, 'experts.gate_up_proj_bias', [nExpert, 2 * dFF]); // [E, 2·dFF]
  const downIn = takeF32(ctx, 'experts.down_proj', [nExpert, dFF, dModel]); // [E, dFF, d]

  const gate = new Float32Array(nExpert * dFF * dModel); // [E, dFF, d]
  const up = new Float32Array(nExpert * dFF * dModel); // [E, dFF, d]
  const gateBias = new Float32Array(nExpert * dFF); // [E, dFF]
  const upBias = new Float32Array(nExpert * dFF); // [E, dFF]
  const down = new Float32Array(nExpert * dModel * dFF); // [E, d, dFF]
  for (let e = 0; e < nExpert; e++) {
    for (let i = 0; i < dModel; i++) {
      const row = (e * dModel + i) * 2 * dFF; // gate_up_proj[e][i][·]
      for (let f = 0; f < dFF; f++) {
        gate[(e * dFF + f) * dModel + i] = gateUp[row + 2 * f];
        up[(e * dFF + f) * dModel + i] = gateUp[row + 2 * f + 1];
      }
    }
    for (let f = 0; f < dFF; f++) {
      gateBias[e * dFF + f] = gateUpBias[(e * dFF + f) * 2];
      upBias[e * dFF + f] = gateUpBias[(e * dFF + f) * 2 + 1];
      for (let o = 0; o < dModel; o++) down[(e * dModel + o) * dFF + f] = downIn[(e * dFF + f) * dModel + o];
    }
  }
  return {
    config: {
      dModel,
      router: routers.gptOss({ E: nExpert, k: topK }),
      expert: { dFF, activation: 'swiglu-oai', bias: true, alpha: SWIGLU_ALPHA, limit },
    },
    weights: {
      'router.weight': takeF32(ctx, 'router.weight', [nExpert, dModel]),
      'router.bias': takeF32(ctx, 'router.bias', [nExpert]),
      'experts.gate': gate,
      'experts.up': up,
      'experts.down': down,
      'experts.gate_bias': gateBias,
      'experts.up_bias': upBias,
      'experts.down_bias': takeF32(ctx, 'experts.down_proj_bias', [nExpert, dModel]),
    },
  };
}

export const gptOss: Family = { convert, moeLayers: everyDecoderLayer, layerPrefixes: decoderPrefixes('mlp') };
