// Switch Transformers (model_type "switch_transformers"): softmax router, top-1, weight = that probability
// (no renormalisation); absolute expert_capacity per group (= per sequence), tokens kept in position order,
// dropped tokens output 0; ReLU FFN experts wi / wo. Source: transformers v4.57.6 models/
// switch_transformers/modeling_switch_transformers.py (SwitchTransformersSparseMLP, ...Top1Router,
// ...DenseActDense) — the last release whose capacity binds (see the goldens README).
// Names relative to the block, "encoder.block.N.layer.1.mlp." or "decoder.block.N.layer.2.mlp."
// (after cross-attention): router.classifier.weight [E, d] (+ .bias [E] with router_bias);
// experts.expert_{e}.wi.weight [dFF, d] → experts.up, experts.expert_{e}.wo.weight [d, dFF] → experts.down.
// The forward takes `sequenceLength` = the tokens per group; without it the whole call is one group.
// MoE layers (SwitchTransformersStack): block i of a stack is sparse iff step > 0 and (step == 1 or
// i % step == 1), step = encoder_sparse_step / decoder_sparse_step, or as SwitchTransformersConfig derives
// it: num_layers // num_sparse_encoder_layers (num_decoder_layers // num_sparse_decoder_layers).

import { SwitchyardError, describe } from '../../errors.js';
import { routers } from '../../routing/presets.js';
import type { Activation } from '../../spec/types.js';
import { MAX_EXPERTS } from '../../spec/router-spec.js';
import {
  configBoolOr, configInt, configIntOr, MAX_LAYERS, stackExperts, takeF32, type CanonicalMoE, type Family, type FamilyContext, type Stack,
} from './common.js';

/** ACT2FN names of the ungated activations we run ('gelu' is the exact erf form in both; 'swish' is SiLU). */
const ACTIVATIONS: ReadonlyMap<unknown, Activation> = new Map([['relu', 'relu'], ['gelu', 'gelu'], ['silu', 'silu'], ['swish', 'silu']]);

// The experts run ACT2FN[dense_act_fn] (default 'relu'). Released Switch configs also carry T5's
// feed_forward_proj, which SwitchTransformersConfig takes into its kwargs and the model never reads: a
// config with feed_forward_proj 'gelu' and no dense_act_fn runs ReLU in transformers, and here.
function activationOf(config: Record<string, unknown>): Activation {
  const name = config.dense_act_fn ?? 'relu';
  const activation = ACTIVATIONS.get(name);
  if (activation === undefined) {
    throw new SwitchyardError('config', 'config.dense_act_fn', `expected one of ${[...ACTIVATIONS.keys()].join(', ')}, got ${describe(name)}`);
  }
  return activation;
}

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const dModel = configInt(config, 'd_model');
  const dFF = configInt(config, 'd_ff');
  const nExpert = configInt(config, 'num_experts', MAX_EXPERTS);
  // SwitchTransformersConfig's default; 0 drops every token (transformers then outputs zeros, as here).
  const expertCapacity = configIntOr(config, 'expert_capacity', 64, 0);
  const routerBias = configBoolOr(config, 'router_bias', false);
  const activation = activationOf(config);
  return {
    config: {
      dModel,
      router: routers.switch({ E: nExpert, expertCapacity }),
      expert: { dFF, activation },
    },
    weights: {
      'router.weight': takeF32(ctx, 'router.classifier.weight', [nExpert, dModel]),
      ...(routerBias ? { 'router.bias': takeF32(ctx, 'router.classifier.bias', [nExpert]) } : {}),
      'experts.up': stackExperts(ctx, nExpert, (e) => `experts.expert_${e}.wi.weight`, [dFF, dModel]),
      'experts.down': stackExperts(ctx, nExpert, (e) => `experts.expert_${e}.wo.weight`, [dModel, dFF]),
    },
  };
}

function sparseStep(config: Record<string, unknown>, stack: Stack, nLayer: number): number {
  const stepField = `${stack}_sparse_step`;
  if (config[stepField] !== undefined && config[stepField] !== null) return configIntOr(config, stepField, 0);
  const nSparse = configIntOr(config, `num_sparse_${stack}_layers`, 3); // SwitchTransformersConfig's default
  // nSparse = 0 gives step = nLayer, as SwitchTransformersConfig does (which still makes block 1 sparse).
  return nSparse > 0 ? Math.floor(nLayer / nSparse) : nLayer;
}

function moeLayers(config: Record<string, unknown>, stack: Stack): number[] {
  const nEncoder = configIntOr(config, 'num_layers', 12, 0, MAX_LAYERS);
  const nLayer = stack === 'encoder' ? nEncoder : configIntOr(config, 'num_decoder_layers', nEncoder, 0, MAX_LAYERS);
  const step = sparseStep(config, stack, nLayer);
  const layers: number[] = [];
  if (step === 0) return layers;
  for (let i = 0; i < nLayer; i++) if (step === 1 || i % step === 1) layers.push(i);
  return layers;
}

function layerPrefixes(layer: number, stack: Stack): string[] {
  return stack === 'encoder' ? [`encoder.block.${layer}.layer.1.mlp.`] : [`decoder.block.${layer}.layer.2.mlp.`];
}

export const switchTransformers: Family = { convert, moeLayers, layerPrefixes };
