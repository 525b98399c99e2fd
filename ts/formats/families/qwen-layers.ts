// MoE layer placement shared by Qwen2-MoE and Qwen3-MoE (Qwen2MoeDecoderLayer / Qwen3MoeDecoderLayer):
// layer i is sparse iff i ∉ mlp_only_layers, num_experts > 0 and (i + 1) % decoder_sparse_step == 0.

import { configInt, configIntList, configIntOr, MAX_LAYERS, type Stack } from './common.js';

export function qwenMoeLayers(config: Record<string, unknown>, stack: Stack): number[] {
  if (stack !== 'decoder') return [];
  const nLayer = configInt(config, 'num_hidden_layers', MAX_LAYERS);
  const step = configIntOr(config, 'decoder_sparse_step', 1); // transformers' default
  const dense = new Set(configIntList(config, 'mlp_only_layers'));
  const nExpert = configIntOr(config, 'num_experts', 60); // absent: transformers' default (60 Qwen2, 128 Qwen3), > 0 either way
  const layers: number[] = [];
  if (nExpert === 0 || step === 0) return layers; // step 0 would divide by zero in transformers: no MoE layer
  for (let i = 0; i < nLayer; i++) if (!dense.has(i) && (i + 1) % step === 0) layers.push(i);
  return layers;
}
