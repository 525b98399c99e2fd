// Hugging Face checkpoints → the canonical MoEConfig and weight names of DESIGN.md §3.
//
// One family per file under families/; this file only normalises the inputs and dispatches on model_type.
// Converters look tensors up by name under the layer's prefix, so a 100 GB checkpoint is never converted
// wholesale — only the one block asked for.

import { SwitchyardError, describe } from '../errors.js';
import type { CheckpointTensor, MoEConfig } from '../spec/types.js';
import type { WeightSource } from '../spec/moe-config.js';
import type { Family, TensorSource } from './families/common.js';
import { familyOf } from './families/index.js';
import { weightMapOf, type SafetensorsIndex } from './layers.js';
import type { SafetensorsFile } from './safetensors.js';
import { refuseMisspeltFields } from '../spec/misspelt-fields.js';

export { SUPPORTED_MODEL_TYPES } from './families/index.js';

export type HuggingFaceTensors =
  | Record<string, CheckpointTensor>
  | Map<string, CheckpointTensor>
  | SafetensorsFile
  | SafetensorsFile[];

export interface HuggingFaceArgs {
  /** The parsed config.json. */
  config: Record<string, unknown>;
  /** Tensors under their checkpoint names; several SafetensorsFile for sharded checkpoints. Give this or `files`. */
  tensors?: HuggingFaceTensors;
  /**
   * A sharded checkpoint: parsed shard files by file name ("model-00001-of-00004.safetensors"). With
   * `index`, each tensor is looked up only in the shard its weight_map names, so only the shards holding
   * this layer need be given (see shardsForLayer); without it, every file is searched and a name may be in only one of them.
   */
  files?: Record<string, SafetensorsFile> | Map<string, SafetensorsFile>;
  /** The parsed model.safetensors.index.json (its weight_map), for `files`. */
  index?: SafetensorsIndex;
  /** Name prefix of the MoE block, e.g. "model.layers.3.block_sparse_moe." (a missing final "." is added). */
  prefix?: string;
  /** Overrides config.model_type. */
  modelType?: string;
}

/**
 * Maps one MoE block of a Hugging Face checkpoint onto switchyard's canonical config and weight names.
 * Weights come out as f32 (f16/bf16 widened); f32 inputs may be returned without a copy. Only the
 * tensors of that block are looked up.
 *
 * @throws SwitchyardError 'config' (unknown model_type, missing or bad field; a prefix naming a layer that
 *   config.json makes dense, when the block cannot be read there), 'shape' (missing or
 *   misshapen tensor, named in full; a shard the index names but `files` lacks), 'dtype' (a non-float tensor).
 * @example
 * const file = readSafetensors(bytes);
 * const { config, weights } = huggingFaceToCanonical({ config: configJson, tensors: file, prefix: 'model.layers.0.block_sparse_moe.' });
 * // weights['experts.gate'] is Float32Array [E, dFF, d] (or, from MXFP4 bytes, a DeferredTensor of that shape)
 */
export function huggingFaceToCanonical(args: HuggingFaceArgs): { config: MoEConfig; weights: WeightSource } {
  if (args === null || typeof args !== 'object') {
    throw new SwitchyardError('config', 'args', `expected { config, tensors | files, prefix?, modelType? }, got ${describe(args)}`);
  }
  refuseMisspeltFields(args, ['config', 'tensors', 'files', 'index', 'prefix', 'modelType'], 'args', 'fromHuggingFace\'s first argument');
  const { config } = args;
  const { family } = familyOf(config, args.modelType);
  const rawPrefix = args.prefix ?? '';
  if (typeof rawPrefix !== 'string') {
    throw new SwitchyardError('config', 'prefix', `expected a string, got ${describe(rawPrefix)}`);
  }
  const prefix = rawPrefix === '' || rawPrefix.endsWith('.') ? rawPrefix : rawPrefix + '.';
  const source = sourceOf(args);
  try {
    return family.convert({ config, source, prefix });
  } catch (e) {
    // The usual cause of a block's tensors not being there: the prefix names a layer config.json makes
    // dense (first_k_dense_replace, mlp_only_layers, a sparse step). Say so rather than "tensor missing".
    const dense = e instanceof SwitchyardError ? denseLayerOf(family, config, prefix) : undefined;
    if (dense !== undefined) {
      const what = dense.count !== undefined ? `past the ${dense.count} layers config.json gives` : 'which config.json makes a dense MLP';
      throw new SwitchyardError('config', 'prefix', `'${prefix}' is layer ${dense.layer}, ${what} ` +
        `(its MoE layers: ${summarize(dense.moeLayers)}); the block could not be read (${(e as Error).message})`);
    }
    // Or the prefix is missing, wrong or names the layer: the tensor the block reads first is there, under
    // other prefixes or deeper under this one.
    if (!(e instanceof SwitchyardError)) throw e;
    const others = prefixesHolding(source, prefix, e.argument);
    if (others.length === 0) throw e;
    throw new SwitchyardError('config', 'prefix', `no tensor ${e.argument} under prefix '${prefix}'; ` +
      `${e.argument.slice(prefix.length)} is under ${listPrefixes(others)} — pass the block's prefix (${e.message})`);
  }
}

/**
 * Where the source holds the tensor that `missing` (a full name under `prefix`) names relative to its block:
 * under `prefix` but deeper — the prefix names the layer, not its block ('model.layers.1.' for
 * 'model.layers.1.block_sparse_moe.') — or, when no tensor at all is under `prefix` (none was given, or a
 * wrong one), under other prefixes, in the source's order: e.g. for a missing 'gate.weight' with no prefix,
 * 'model.layers.0.block_sparse_moe.', 'model.layers.1.block_sparse_moe.', …. None when `prefix` holds some
 * tensors and none deeper ends so: that block is incomplete, not misnamed.
 */
function prefixesHolding(source: TensorSource, prefix: string, missing: string): string[] {
  if (!missing.startsWith(prefix) || source.get(missing) !== undefined) return [];
  const relative = missing.slice(prefix.length);
  if (relative === '') return [];
  const deeper: string[] = [];
  const elsewhere: string[] = [];
  let holdsOthers = false;
  for (const name of source.names()) {
    const under = prefix !== '' && name.startsWith(prefix);
    holdsOthers ||= under;
    if (name.endsWith('.' + relative)) (under ? deeper : elsewhere).push(name.slice(0, name.length - relative.length));
  }
  return deeper.length > 0 ? deeper : holdsOthers ? [] : elsewhere;
}

/** The first few prefixes, quoted, and how many there are. */
function listPrefixes(prefixes: string[]): string {
  const shown = prefixes.slice(0, 3).map((p) => `'${p}'`).join(', ');
  return prefixes.length <= 3 ? shown : `${shown}, … (${prefixes.length} prefixes)`;
}

/**
 * The layer `prefix` names and the config's MoE layers, when that layer is not one of them — a dense layer,
 * or one past the config's layer count (`count` then says how many there are); undefined when the prefix
 * names no layer of the family's naming, or the config has no layer count to tell.
 */
function denseLayerOf(family: Family, config: Record<string, unknown>, prefix: string): { layer: number; moeLayers: number[]; count?: number } | undefined {
  for (const match of prefix.matchAll(/\.(\d+)\./g)) {
    const layer = Number(match[1]);
    for (const stack of ['decoder', 'encoder'] as const) {
      if (!family.layerPrefixes(layer, stack).includes(prefix)) continue;
      let moeLayers: number[];
      try {
        moeLayers = family.moeLayers(config, stack);
      } catch {
        return undefined;
      }
      const count = layerCount(config, stack);
      if (count === undefined) return undefined;
      if (layer >= count) return { layer, moeLayers, count };
      return moeLayers.includes(layer) ? undefined : { layer, moeLayers };
    }
  }
  return undefined;
}

/** The layers of a stack by config.json: num_hidden_layers, or Switch's num_layers / num_decoder_layers. */
function layerCount(config: Record<string, unknown>, stack: 'decoder' | 'encoder'): number | undefined {
  const count = config.num_hidden_layers ?? (stack === 'decoder' ? config.num_decoder_layers ?? config.num_layers : config.num_layers);
  return typeof count === 'number' && Number.isSafeInteger(count) ? count : undefined;
}

/** [3, 4, 5, …, 60] as "3, 4, 5, 6, …, 60 — 58 layers"; a short list as itself. */
function summarize(layers: number[]): string {
  if (layers.length === 0) return 'none';
  if (layers.length <= 8) return layers.join(', ');
  return `${layers.slice(0, 4).join(', ')}, …, ${layers[layers.length - 1]} — ${layers.length} layers`;
}

function sourceOf(args: HuggingFaceArgs): TensorSource {
  if (args.files !== undefined) {
    if (args.tensors !== undefined) {
      throw new SwitchyardError('shape', 'files', 'expected either tensors or files, got both');
    }
    return shardedSource(args.files, args.index);
  }
  if (args.index !== undefined) {
    throw new SwitchyardError('shape', 'files', 'expected the shard files the index refers to, got none');
  }
  if (args.tensors === undefined) {
    throw new SwitchyardError('shape', 'tensors', 'expected tensors (or files), got undefined');
  }
  return tensorSource(args.tensors);
}

/** Shards by file name; with an index, a name resolves only in the shard the weight_map assigns it. */
function shardedSource(files: Record<string, SafetensorsFile> | Map<string, SafetensorsFile>, index: SafetensorsIndex | undefined): TensorSource {
  if (files === null || typeof files !== 'object') {
    throw new SwitchyardError('shape', 'files', `expected shard files by name, got ${describe(files)}`);
  }
  const byName = files instanceof Map ? files : new Map(Object.entries(files));
  for (const [name, file] of byName) {
    if (!isSafetensorsFile(file)) {
      throw new SwitchyardError('shape', `files[${JSON.stringify(name)}]`, `expected a SafetensorsFile, got ${describe(file)}`);
    }
  }
  if (index === undefined) {
    const names = [...byName.keys()];
    const maps = [...byName.values()].map((f) => f.tensors);
    return { get: (name) => onlyOf(maps, name, (i) => `files[${JSON.stringify(names[i])}]`), names: () => namesOf(maps) };
  }
  const weightMap = weightMapOf(index);
  return {
    names: () => Object.keys(weightMap),
    get: (name) => {
      if (!Object.prototype.hasOwnProperty.call(weightMap, name)) return undefined;
      const shard = weightMap[name];
      const file = byName.get(shard);
      if (file === undefined) {
        throw new SwitchyardError('shape', name, `expected in shard ${JSON.stringify(shard)} (index.weight_map), which is not among files`);
      }
      return file.tensors.get(name);
    },
  };
}

/** One lookup over every accepted container of tensors. */
function tensorSource(tensors: HuggingFaceTensors): TensorSource {
  if (Array.isArray(tensors)) {
    // An index loop, not map(): map skips the holes of a sparse array, which must be refused too.
    const maps: Map<string, CheckpointTensor>[] = [];
    for (let i = 0; i < tensors.length; i++) {
      const file: unknown = tensors[i];
      if (!isSafetensorsFile(file)) {
        throw new SwitchyardError('shape', `tensors[${i}]`, `expected a SafetensorsFile, got ${describe(file)}`);
      }
      maps.push(file.tensors);
    }
    return { get: (name) => onlyOf(maps, name, (i) => `tensors[${i}]`), names: () => namesOf(maps) };
  }
  if (tensors instanceof Map) return { get: (name) => tensors.get(name), names: () => tensors.keys() };
  if (isSafetensorsFile(tensors)) return { get: (name) => tensors.tensors.get(name), names: () => tensors.tensors.keys() };
  if (tensors === null || typeof tensors !== 'object') {
    throw new SwitchyardError('shape', 'tensors', `expected a record, Map or SafetensorsFile, got ${describe(tensors)}`);
  }
  // The file's bytes themselves (an object too, so they would pass for a record holding no tensor).
  if (ArrayBuffer.isView(tensors) || tensors instanceof ArrayBuffer) {
    throw new SwitchyardError('shape', 'tensors', `expected a record, Map or SafetensorsFile — parse a file's bytes with readSafetensors — got ${describe(tensors)}`);
  }
  const record = tensors as Record<string, CheckpointTensor>;
  // Own properties only: a tensor named "constructor" must not resolve to Object.prototype.constructor.
  return { get: (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined), names: () => Object.keys(record) };
}

/** The names of several maps of tensors, in order. */
function* namesOf(maps: Map<string, CheckpointTensor>[]): Iterable<string> {
  for (const m of maps) yield* m.keys();
}

/**
 * The tensor `name` from the one shard that holds it. A name in two shards is refused: which copy a
 * loader took would depend on the order of the shards, and a real checkpoint never repeats a name.
 */
function onlyOf(maps: Map<string, CheckpointTensor>[], name: string, label: (i: number) => string): CheckpointTensor | undefined {
  let found: CheckpointTensor | undefined;
  let at = -1;
  for (let i = 0; i < maps.length; i++) {
    const t = maps[i].get(name);
    if (t === undefined) continue;
    if (found !== undefined) {
      throw new SwitchyardError('shape', name, `expected in one shard only, found in ${label(at)} and ${label(i)}`);
    }
    found = t;
    at = i;
  }
  return found;
}

// A record of tensors cannot hold a Map under "tensors" (Maps are not TensorLike), so this test is unambiguous.
function isSafetensorsFile(x: unknown): x is SafetensorsFile {
  return x !== null && typeof x === 'object' && (x as { tensors?: unknown }).tensors instanceof Map;
}
