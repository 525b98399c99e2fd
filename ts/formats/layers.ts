// Where the MoE blocks of a checkpoint are: their layer indices, their name prefixes, and the shards of a
// sharded checkpoint that hold them (so a caller fetches only those files).
import { SwitchyardError, describe } from '../errors.js';
import type { Stack } from './families/common.js';
import { familyOf } from './families/index.js';

export type { Stack } from './families/common.js';

/** model.safetensors.index.json, parsed: which shard file holds each tensor. */
export interface SafetensorsIndex {
  weight_map: Record<string, string>;
}

/**
 * The indices of a model's MoE layers, ascending, from its config.json: every decoder layer for Mixtral,
 * OLMoE, GPT-OSS and Granite; `i ≥ first_k_dense_replace` (and `i % moe_layer_freq == 0`) for DeepSeek-V3;
 * `(i + 1) % decoder_sparse_step == 0` outside `mlp_only_layers` for Qwen2-/Qwen3-MoE. Switch Transformers
 * is encoder-decoder: `stack` picks the encoder blocks (`encoder_sparse_step`) or the decoder blocks
 * (`decoder_sparse_step`, the default); decoder-only models have no encoder layers ([]).
 *
 * @example
 * moeLayers({ model_type: 'deepseek_v3', num_hidden_layers: 61, first_k_dense_replace: 3 }); // [3, 4, …, 60]
 * moeLayers(switchConfig, { stack: 'encoder' }); // [1, 3, 5, 7, 9, 11] for switch-base-8
 */
export function moeLayers(config: Record<string, unknown>, options?: { stack?: Stack; modelType?: string }): number[] {
  const { family } = familyOf(config, options?.modelType, 'options.modelType');
  const stack = options?.stack ?? 'decoder';
  if (stack !== 'encoder' && stack !== 'decoder') {
    throw new SwitchyardError('config', 'options.stack', `expected 'encoder' or 'decoder', got ${describe(stack)}`);
  }
  return family.moeLayers(config, stack);
}

/** Candidate name prefixes of layer `layer`'s MoE block, the on-disk name first (then transformers v5's). */
export function moeLayerPrefixes(config: Record<string, unknown>, layer: number, options?: { stack?: Stack; modelType?: string }): string[] {
  const { family } = familyOf(config, options?.modelType, 'options.modelType');
  return family.layerPrefixes(layer, options?.stack ?? 'decoder');
}

/**
 * The shard files of a sharded checkpoint that hold tensors under `prefix` (in first-use order): fetch and
 * parse only these, then pass them as `files` with the `index` to fromHuggingFace.
 *
 * @example
 * shardsForLayer(index, 'model.layers.3.mlp.'); // ['model-00002-of-00004.safetensors']
 */
export function shardsForLayer(index: SafetensorsIndex, prefix: string): string[] {
  if (typeof prefix !== 'string') {
    throw new SwitchyardError('config', 'prefix', `expected a string such as 'model.layers.3.mlp.', got ${describe(prefix)}`);
  }
  const map = weightMapOf(index);
  // As fromHuggingFace reads it: a missing final "." is added, so 'model.layers.3.mlp' is not also layer 30's.
  const under = prefix === '' || prefix.endsWith('.') ? prefix : prefix + '.';
  const files = new Set<string>();
  for (const name of Object.keys(map)) if (name.startsWith(under)) files.add(map[name]);
  return [...files];
}

/** index.weight_map after checking it is a record of strings. */
export function weightMapOf(index: unknown): Record<string, string> {
  if (index === null || typeof index !== 'object' || Array.isArray(index) || ArrayBuffer.isView(index)) {
    throw new SwitchyardError('config', 'index', `expected the parsed model.safetensors.index.json ({ weight_map }), got ${describe(index)}`);
  }
  const map = (index as { weight_map?: unknown }).weight_map;
  if (map === undefined && Object.values(index).some((v) => typeof v === 'string')) {
    throw new SwitchyardError('config', 'index', 'expected the parsed model.safetensors.index.json ({ weight_map }), got an object without weight_map whose values are strings — its weight_map alone? pass { weight_map }');
  }
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new SwitchyardError('shape', 'index.weight_map', `expected an object of tensor name → shard file, got ${describe(map)}`);
  }
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string') {
      throw new SwitchyardError('shape', `index.weight_map[${JSON.stringify(name)}]`, `expected a file name, got ${describe(file)}`);
    }
    // The index comes with the checkpoint, from the internet, and callers open these names beside it
    // (switchyard inspect does): a path out of the checkpoint's directory is refused, not followed.
    if (!isPlainFileName(file)) {
      throw new SwitchyardError('range', `index.weight_map[${JSON.stringify(name)}]`,
        `expected a shard file name in the checkpoint's directory (no '/', '\\', '..', NUL), got ${JSON.stringify(file)}`);
    }
  }
  return map as Record<string, string>;
}

/** A name of a file in the same directory: not empty, not . or .., no separator or NUL (Windows' too). */
function isPlainFileName(file: string): boolean {
  return file.length > 0 && file !== '.' && file !== '..' && !/[/\\\0]/.test(file) && !/^[A-Za-z]:/.test(file);
}
