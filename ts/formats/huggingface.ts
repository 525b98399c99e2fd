// Hugging Face checkpoints → the canonical MoEConfig and weight names of DESIGN.md §3.
//
// One family per file under families/; this file only normalises the inputs and dispatches on model_type.
// Converters look tensors up by name under the layer's prefix, so a 100 GB checkpoint is never converted
// wholesale — only the one block asked for.

import { SwitchyardError, describe } from '../errors.js';
import type { MoEConfig, TensorLike } from '../spec/types.js';
import type { FamilyConverter, TensorSource } from './families/common.js';
import { mixtral } from './families/mixtral.js';
import type { SafetensorsFile } from './safetensors.js';

/** model_type → converter. A Map, so names like "constructor" or "__proto__" cannot hit Object.prototype. */
const FAMILIES: ReadonlyMap<string, FamilyConverter> = new Map([['mixtral', mixtral]]);

/** The model types huggingFaceToCanonical accepts. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = [...FAMILIES.keys()];

export type HuggingFaceTensors =
  | Record<string, TensorLike>
  | Map<string, TensorLike>
  | SafetensorsFile
  | SafetensorsFile[];

export interface HuggingFaceArgs {
  /** The parsed config.json. */
  config: Record<string, unknown>;
  /** Tensors under their checkpoint names; several SafetensorsFile for sharded checkpoints. */
  tensors: HuggingFaceTensors;
  /** Name prefix of the MoE block, e.g. "model.layers.3.block_sparse_moe." (a missing final "." is added). */
  prefix?: string;
  /** Overrides config.model_type. */
  modelType?: string;
}

/**
 * Maps one MoE block of a Hugging Face checkpoint onto switchyard's canonical config and weight names.
 * Weights come out as f32 (f16/bf16 widened); f32 inputs may be returned without a copy.
 *
 * @throws SwitchyardError 'config' (unknown model_type, missing or bad field), 'shape' (missing or
 *   misshapen tensor, named in full), 'dtype' (a non-float tensor).
 * @example
 * const file = readSafetensors(bytes);
 * const { config, weights } = huggingFaceToCanonical({ config: configJson, tensors: file, prefix: 'model.layers.0.block_sparse_moe.' });
 * // weights['experts.gate'] is Float32Array [E, dFF, d]
 */
export function huggingFaceToCanonical(args: HuggingFaceArgs): { config: MoEConfig; weights: Record<string, TensorLike> } {
  const { config } = args;
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new SwitchyardError('config', 'config', `expected the parsed config.json object, got ${describe(config)}`);
  }
  const modelType = args.modelType ?? config['model_type'];
  const convert = typeof modelType === 'string' ? FAMILIES.get(modelType) : undefined;
  if (convert === undefined) {
    throw new SwitchyardError('config', 'config.model_type',
      `expected one of ${SUPPORTED_MODEL_TYPES.join(', ')}, got ${describe(modelType)}`);
  }
  const rawPrefix = args.prefix ?? '';
  if (typeof rawPrefix !== 'string') {
    throw new SwitchyardError('config', 'prefix', `expected a string, got ${describe(rawPrefix)}`);
  }
  const prefix = rawPrefix === '' || rawPrefix.endsWith('.') ? rawPrefix : rawPrefix + '.';
  return convert({ config, source: tensorSource(args.tensors), prefix });
}

/** One lookup over every accepted container of tensors. */
function tensorSource(tensors: HuggingFaceTensors): TensorSource {
  if (Array.isArray(tensors)) {
    const maps = tensors.map((file, i) => {
      if (!isSafetensorsFile(file)) {
        throw new SwitchyardError('shape', `tensors[${i}]`, `expected a SafetensorsFile, got ${describe(file)}`);
      }
      return file.tensors;
    });
    return { get: (name) => firstOf(maps, name) };
  }
  if (tensors instanceof Map) return { get: (name) => tensors.get(name) };
  if (isSafetensorsFile(tensors)) return { get: (name) => tensors.tensors.get(name) };
  if (tensors === null || typeof tensors !== 'object') {
    throw new SwitchyardError('shape', 'tensors', `expected a record, Map or SafetensorsFile, got ${describe(tensors)}`);
  }
  const record = tensors as Record<string, TensorLike>;
  // Own properties only: a tensor named "constructor" must not resolve to Object.prototype.constructor.
  return { get: (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined) };
}

function firstOf(maps: Map<string, TensorLike>[], name: string): TensorLike | undefined {
  for (const m of maps) {
    const t = m.get(name);
    if (t !== undefined) return t;
  }
  return undefined;
}

// A record of tensors cannot hold a Map under "tensors" (Maps are not TensorLike), so this test is unambiguous.
function isSafetensorsFile(x: unknown): x is SafetensorsFile {
  return x !== null && typeof x === 'object' && (x as { tensors?: unknown }).tensors instanceof Map;
}
