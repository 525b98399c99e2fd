// Shared pieces of the Hugging Face family converters: reading config fields, fetching one layer's tensors
// by name (never iterating a whole checkpoint), and the SwiGLU expert layouts common to Mixtral, Qwen2-MoE,
// OLMoE and DeepSeek-V3. Each family file (mixtral.ts, …) maps its config and names onto these.

import { SwitchyardError, describe } from '../../errors.js';
import type { Activation, CheckpointTensor, MoEConfig, TensorLike } from '../../spec/types.js';
import { firstNonFiniteHalf, halfBits, halfReader, halfValue, sameShape, shapeSize, tensorShape, toFloat32 } from '../dtype.js';
import { allFinite, markFinite } from '../../spec/check.js';
import { MAX_EXPERTS } from '../../spec/router-spec.js';
import type { WeightSource } from '../../spec/moe-config.js';
import { takeFp8 } from './fp8-weight.js';
import { DeferredTensor, type EncodedRows } from '../deferred-tensor.js';

/** Looks tensors up by their full checkpoint name. */
export interface TensorSource {
  get(name: string): CheckpointTensor | undefined;
  /** Every tensor name the source holds (for error messages only). */
  names(): Iterable<string>;
}

/** What a family converter receives: the parsed config.json, the tensors, and the layer's prefix ('' or ending in '.'). */
export interface FamilyContext {
  config: Record<string, unknown>;
  source: TensorSource;
  prefix: string;
}

export interface CanonicalMoE {
  config: MoEConfig;
  /**
   * Canonical names of DESIGN.md §3 (router.weight, experts.gate, …); f32 values may alias the input. An
   * expert projection may be deferred (bf16, f16, MXFP4 or FP8 bits): widened when a path reads it.
   */
  weights: WeightSource;
}

export type FamilyConverter = (ctx: FamilyContext) => CanonicalMoE;

/** Encoder or decoder stack of an encoder-decoder model (Switch); decoder-only families have only 'decoder'. */
export type Stack = 'encoder' | 'decoder';

/** Everything switchyard knows about one model_type. */
export interface Family {
  /** One MoE block → canonical config and weights. */
  convert: FamilyConverter;
  /** Indices of the MoE layers of a stack, ascending ([] for a stack the model does not have). */
  moeLayers(config: Record<string, unknown>, stack: Stack): number[];
  /** Where layer `layer`'s MoE block lives in checkpoints: candidate name prefixes, the on-disk one first. */
  layerPrefixes(layer: number, stack: Stack): string[];
}

/** 0 … num_hidden_layers − 1: every decoder layer is a MoE layer (Mixtral, OLMoE, GPT-OSS, Granite). */
export function everyDecoderLayer(config: Record<string, unknown>, stack: Stack): number[] {
  if (stack !== 'decoder') return [];
  return Array.from({ length: configInt(config, 'num_hidden_layers', MAX_LAYERS) }, (_, i) => i);
}

/** Decoder-only prefixes: the on-disk block name, then transformers v5's in-memory `mlp` where it differs. */
export function decoderPrefixes(block: string): (layer: number, stack: Stack) => string[] {
  return (layer, stack) => {
    if (stack !== 'decoder') return [];
    const names = [`model.layers.${layer}.${block}.`];
    if (block !== 'mlp') names.push(`model.layers.${layer}.mlp.`);
    return names;
  };
}

/** A required positive integer config field, e.g. hidden_size. */
export function configInt(config: Record<string, unknown>, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = Object.prototype.hasOwnProperty.call(config, field) ? config[field] : undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new SwitchyardError('config', `config.${field}`, `expected a positive integer${max < Number.MAX_SAFE_INTEGER ? ` ≤ ${max}` : ''}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Most layers a config may declare. Layer lists are built by counting to it, so a config.json from the
 * internet saying 1e15 would otherwise hang the reader or exhaust memory; real models have ≤ a few hundred.
 */
export const MAX_LAYERS = 1 << 16;

/** The value of an optional field, or undefined when absent or null (config.json writes unset fields as null). */
function optionalField(config: Record<string, unknown>, field: string): unknown {
  const value = Object.prototype.hasOwnProperty.call(config, field) ? config[field] : undefined;
  return value === null ? undefined : value;
}

/** An optional non-negative integer field (`fallback` when absent: transformers' config default). */
export function configIntOr(config: Record<string, unknown>, field: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = optionalField(config, field);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new SwitchyardError('config', `config.${field}`, `expected an integer ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}, got ${describe(value)}`);
  }
  return value;
}

/**
 * read(), which takes tensors whose shape follows from config `field`; where config.json left the field out,
 * so that transformers' default (`fallback`) set that shape, a shape error says so: the default is then the
 * likelier culprit than the checkpoint.
 */
export function readSizedByDefault<T>(config: Record<string, unknown>, field: string, fallback: number, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof SwitchyardError) || e.code !== 'shape' || optionalField(config, field) !== undefined) throw e;
    throw new SwitchyardError('shape', e.argument,
      `${e.message.slice(e.argument.length + 2)} — config.json has no ${field}, so its size came from transformers' default ${fallback}`);
  }
}

/** An optional finite number field (`fallback` when absent: transformers' config default). */
export function configNumberOr(config: Record<string, unknown>, field: string, fallback: number): number {
  const value = optionalField(config, field);
  if (value === undefined) return fallback;
  // The block computes in f32: a value past its range (1e39) would be ∞ there, reported under the
  // canonical name (config.router.scale) instead of the field the checkpoint wrote.
  if (typeof value !== 'number' || !Number.isFinite(Math.fround(value))) {
    throw new SwitchyardError('config', `config.${field}`, `expected a finite number within f32's range, got ${describe(value)}`);
  }
  return value;
}

/** An optional boolean field (`fallback` when absent: transformers' config default). */
export function configBoolOr(config: Record<string, unknown>, field: string, fallback: boolean): boolean {
  const value = optionalField(config, field);
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new SwitchyardError('config', `config.${field}`, `expected true or false, got ${describe(value)}`);
  }
  return value;
}

/** An optional list of non-negative integers (e.g. Qwen's mlp_only_layers); [] when absent. */
export function configIntList(config: Record<string, unknown>, field: string): number[] {
  const value = optionalField(config, field);
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    throw new SwitchyardError('config', `config.${field}`, `expected a list of layer indices, got ${describe(value)}`);
  }
  return value as number[];
}

/** k ≤ E, checked where both are read so the error names the config field, not the router spec. */
export function checkTopK(topK: number, nExpert: number, expertsField: string): void {
  if (topK > nExpert) {
    throw new SwitchyardError('config', 'config.num_experts_per_tok', `expected at most ${expertsField} (${nExpert}), got ${topK}`);
  }
}

/** The sizes of a routed-expert block, as every decoder family names them but for two fields. */
export interface ExpertSizes {
  dModel: number;
  dFF: number;
  nExpert: number;
  topK: number;
}

/**
 * Reads hidden_size, the expert width (`dFFField`), the expert count (`expertsField`) and
 * num_experts_per_tok, and checks k ≤ E with the error naming the family's own field.
 */
export function expertSizes(config: Record<string, unknown>, expertsField: string, dFFField: string): ExpertSizes {
  // MAX_EXPERTS checked here too, so that the refusal names the checkpoint's field, not config.router.numExperts.
  const nExpert = configInt(config, expertsField, MAX_EXPERTS);
  const topK = configInt(config, 'num_experts_per_tok');
  checkTopK(topK, nExpert, expertsField);
  return { dModel: configInt(config, 'hidden_size'), dFF: configInt(config, dFFField), nExpert, topK };
}

/** An optional config field that must equal `expected` when present (a value we cannot honour is an error, not ignored). */
export function configMustBe(config: Record<string, unknown>, field: string, expected: unknown): void {
  if (!Object.prototype.hasOwnProperty.call(config, field)) return;
  if (config[field] !== expected) {
    throw new SwitchyardError('config', `config.${field}`, `expected ${JSON.stringify(expected)}, got ${describe(config[field])}`);
  }
}

/**
 * The gated experts' activation from hidden_act, which transformers applies to the gate (ACT2FN[hidden_act]
 * (gate x) ⊙ up x) in the routed and the shared experts alike: 'silu' (and its alias 'swish') is SwiGLU,
 * 'gelu' (the exact erf form) GeGLU. Every gated family's config defaults to 'silu'. Other names (the tanh
 * approximations among them) are refused, not run as something close.
 */
const GATED_ACTIVATIONS: ReadonlyMap<unknown, Activation> = new Map([['silu', 'swiglu'], ['swish', 'swiglu'], ['gelu', 'geglu']]);

export function gatedActivation(config: Record<string, unknown>): Activation {
  const name = config.hidden_act ?? 'silu';
  const activation = GATED_ACTIVATIONS.get(name);
  if (activation === undefined) {
    throw new SwitchyardError('config', 'config.hidden_act', `expected one of ${[...GATED_ACTIVATIONS.keys()].join(', ')}, got ${describe(name)}`);
  }
  return activation;
}

/** Whether the layer has a tensor under this relative name. */
export function hasTensor(ctx: FamilyContext, name: string): boolean {
  return ctx.source.get(ctx.prefix + name) !== undefined;
}

/**
 * A tensor of the layer as f32, after checking its shape. A bare Float32Array has no shape, so only its
 * length is checked.
 */
export function takeF32(ctx: FamilyContext, name: string, shape: readonly number[]): Float32Array {
  const t = takeWeight(ctx, name, shape);
  // A widened or dequantised tensor is a new array no caller holds: createMoE need not scan it again.
  return t instanceof DeferredTensor ? markFinite(t.values()) : t;
}

/**
 * takeF32, except that a weight stored in fewer bytes than f32 (bf16, f16, FP8) stays so until a path reads
 * it (the caller's bytes, until DeferredTensor.own): what the expert projections are taken with, so that wasm
 * and WebGPU read them by runs of rows and no f32 copy of the whole is made. Every value is checked here, so
 * that a NaN names the checkpoint's tensor, not its canonical name.
 */
export function takeWeight(ctx: FamilyContext, name: string, shape: readonly number[]): Float32Array | DeferredTensor {
  const full = ctx.prefix + name;
  const t = ctx.source.get(full);
  if (t === undefined) {
    throw new SwitchyardError('shape', full, `expected a tensor [${shape.join(', ')}], got none`);
  }
  // Not a Float32Array nor a tensor with a shape list: toFloat32 says what it is ('dtype' / 'shape').
  if (!(t instanceof Float32Array) && !Array.isArray((t as { shape?: unknown } | null)?.shape)) toFloat32(t, full);
  if (!(t instanceof Float32Array) && t.dtype === 'f8_e4m3') return takeFp8(ctx, full, t, shape);
  const got: unknown = t instanceof Float32Array ? undefined : t.shape;
  if (t instanceof Float32Array ? t.length !== shapeSize(shape) : !sameShape(got, shape)) {
    const received = Array.isArray(got) || got === undefined ? `[${tensorShape(t).join(', ')}]` : describe(got);
    throw new SwitchyardError('shape', full, `expected [${shape.join(', ')}], got ${received}`);
  }
  const half = halfBits(t, full);
  if (!half) {
    // f32: the caller's own memory (createMoE checks it again, and each path copies it).
    const values = toFloat32(t, full);
    allFinite(values, full, `[${shape.join(', ')}]`);
    return values;
  }
  const bad = firstNonFiniteHalf(half.dtype, half.bits);
  if (bad >= 0) {
    throw new SwitchyardError('range', full, `expected finite values [${shape.join(', ')}], received ${halfValue(half.dtype, half.bits[bad])} at element ${bad}`);
  }
  // The caller's bits until the block takes its own copy (DeferredTensor.own).
  const { dtype } = half;
  const cols = shape[shape.length - 1] ?? 1;
  let bits = half.bits;
  let read = halfReader(dtype, bits, cols);
  const encoded: EncodedRows = {
    encoding: dtype,
    read: (r0, r1, run, row0) => run.bytes.set(new Uint8Array(bits.buffer, bits.byteOffset + 2 * r0 * cols, 2 * (r1 - r0) * cols), run.at + 2 * row0 * cols),
  };
  return new DeferredTensor(shape, (r0, r1, out, at) => read(r0, r1, out, at), encoded,
    () => {
      bits = bits.slice();
      read = halfReader(dtype, bits, cols);
    });
}

/** A u8 tensor of the layer (kept as bytes by readSafetensors, e.g. MXFP4 blocks), after checking its shape. */
export function takeU8(ctx: FamilyContext, name: string, shape: readonly number[]): Uint8Array {
  const full = ctx.prefix + name;
  const t = ctx.source.get(full);
  if (t === undefined) {
    throw new SwitchyardError('shape', full, `expected a u8 tensor [${shape.join(', ')}], got none`);
  }
  if (t instanceof Float32Array || t === null || typeof t !== 'object' || t.dtype !== 'u8' || !(t.data instanceof Uint8Array)) {
    const got = t instanceof Float32Array ? 'a Float32Array' : `dtype ${describe((t as { dtype?: unknown } | null)?.dtype)}`;
    throw new SwitchyardError('dtype', full, `expected { dtype: 'u8', shape, data: Uint8Array }, got ${got}`);
  }
  const got: unknown = t.shape;
  if (!sameShape(got, shape)) {
    throw new SwitchyardError('shape', full, `expected [${shape.join(', ')}], got ${Array.isArray(got) ? `[${got.join(', ')}]` : describe(got)}`);
  }
  if (t.data.length !== shapeSize(shape)) {
    throw new SwitchyardError('shape', full, `expected ${shapeSize(shape)} bytes for [${shape.join(', ')}], got ${t.data.length}`);
  }
  return t.data;
}

/** Per-expert on-disk names of the three SwiGLU projections, gate / up / down. */
const PER_EXPERT_NAMES: readonly (readonly [string, string, string])[] = [
  ['w1', 'w3', 'w2'], // Mixtral checkpoints
  ['gate_proj', 'up_proj', 'down_proj'], // Qwen2-MoE, OLMoE, DeepSeek-V3 checkpoints
];

/**
 * Splits a fused [E, 2·dFF, dModel] gate/up tensor, gate rows first (transformers v5 `gate_up_proj`,
 * Granite's `input_linear`, both split by `chunk(2)`), into gate and up [E, dFF, dModel]: two copies of an
 * array takeF32 has checked (marked finite), or two readers of a deferred tensor's rows.
 */
export function splitGateFirst(fused: Float32Array | DeferredTensor, nExpert: number, dFF: number, dModel: number): Record<'gate' | 'up', Float32Array | DeferredTensor> {
  if (fused instanceof DeferredTensor) {
    // Rows [r0, r1) of the gate (offset 0) or up (offset dFF) half: per expert, a run of the fused rows,
    // `each(from, to, rowOffset)` with rowOffset the run's first row from r0.
    const byExpert = (offset: number) => (r0: number, r1: number, each: (from: number, to: number, rowOffset: number) => void) => {
      for (let r = r0; r < r1;) {
        const e = Math.floor(r / dFF);
        const end = Math.min(r1, (e + 1) * dFF);
        const from = e * 2 * dFF + offset + (r - e * dFF);
        each(from, from + (end - r), r - r0);
        r = end;
      }
    };
    const encoded = fused.encoded;
    const half = (offset: number) => new DeferredTensor([nExpert, dFF, dModel],
      (r0, r1, out, at) => byExpert(offset)(r0, r1, (from, to, o) => fused.read(from, to, out, at + o * dModel)),
      encoded && {
        encoding: encoded.encoding,
        blockCols: encoded.blockCols,
        read: (r0, r1, run, row0) => byExpert(offset)(r0, r1, (from, to, o) => encoded.read(from, to, run, row0 + o)),
      },
      () => fused.own());
    return { gate: half(0), up: half(dFF) };
  }
  const slab = dFF * dModel;
  const gate = new Float32Array(nExpert * slab);
  const up = new Float32Array(nExpert * slab);
  for (let e = 0; e < nExpert; e++) {
    const base = e * 2 * slab;
    gate.set(fused.subarray(base, base + slab), e * slab);
    up.set(fused.subarray(base + slab, base + 2 * slab), e * slab);
  }
  return { gate: markFinite(gate), up: markFinite(up) };
}

/** A dense SwiGLU MLP under `name` (`name.gate_proj.weight` …) as canonical `shared.gate|up|down`. */
export function sharedSwiglu(ctx: FamilyContext, name: string, dFF: number, dModel: number): Record<string, Float32Array> {
  return {
    'shared.gate': takeF32(ctx, `${name}.gate_proj.weight`, [dFF, dModel]),
    'shared.up': takeF32(ctx, `${name}.up_proj.weight`, [dFF, dModel]),
    'shared.down': takeF32(ctx, `${name}.down_proj.weight`, [dModel, dFF]),
  };
}

/**
 * SwiGLU expert weights as canonical stacked tensors: gate, up [nExpert, dFF, dModel], down [nExpert, dModel, dFF].
 * Accepts the fused names of transformers v5 (`experts.gate_up_proj` [E, 2·dFF, d], gate rows first, and
 * `experts.down_proj` [E, d, dFF]) or per-expert `experts.N.{w1,w3,w2}.weight` / `{gate,up,down}_proj.weight`.
 */
export function swigluExperts(ctx: FamilyContext, nExpert: number, dFF: number, dModel: number): Record<string, Float32Array | DeferredTensor> {
  if (hasTensor(ctx, 'experts.gate_up_proj')) {
    const gateUp = takeWeight(ctx, 'experts.gate_up_proj', [nExpert, 2 * dFF, dModel]); // [E, 2·dFF, d]
    const down = takeWeight(ctx, 'experts.down_proj', [nExpert, dModel, dFF]); // [E, d, dFF]
    const { gate, up } = splitGateFirst(gateUp, nExpert, dFF, dModel);
    return { 'experts.gate': gate, 'experts.up': up, 'experts.down': down };
  }

  const names = PER_EXPERT_NAMES.find(([g]) => hasTensor(ctx, `experts.0.${g}.weight`));
  if (names === undefined) {
    const alternatives = PER_EXPERT_NAMES.map(([g]) => `${ctx.prefix}experts.0.${g}.weight`).join(' or ');
    throw new SwitchyardError('shape', `${ctx.prefix}experts.gate_up_proj`,
      `expected a tensor [${nExpert}, ${2 * dFF}, ${dModel}], got none (nor per-expert ${alternatives})`);
  }
  const [gateName, upName, downName] = names;
  return {
    'experts.gate': stackExperts(ctx, nExpert, (e) => `experts.${e}.${gateName}.weight`, [dFF, dModel]),
    'experts.up': stackExperts(ctx, nExpert, (e) => `experts.${e}.${upName}.weight`, [dFF, dModel]),
    'experts.down': stackExperts(ctx, nExpert, (e) => `experts.${e}.${downName}.weight`, [dModel, dFF]),
  };
}

/**
 * Stacks one [rows, cols] matrix per expert into [nExpert, rows, cols]; deferred when any expert's is (bf16,
 * f16, FP8): then a run of stacked rows is read expert by expert.
 */
export function stackExperts(
  ctx: FamilyContext, nExpert: number, name: (e: number) => string, shape: readonly [number, number],
): Float32Array | DeferredTensor {
  // Every expert's tensor first, then the stack: its size then comes from tensors that exist, never from
  // a config's expert count alone (a hostile config.json would otherwise size an allocation).
  const parts = Array.from({ length: nExpert }, (_, e) => takeWeight(ctx, name(e), shape));
  const [rows, cols] = shape;
  if (parts.some((part) => part instanceof DeferredTensor)) {
    // A run of stacked rows, expert by expert: rows [from, to) of expert e are the run's rows from rowOffset = r - r0.
    const byExpert = (r0: number, r1: number, each: (e: number, from: number, to: number, rowOffset: number) => void) => {
      for (let r = r0; r < r1;) {
        const e = Math.floor(r / rows);
        const end = Math.min(r1, (e + 1) * rows);
        each(e, r - e * rows, end - e * rows, r - r0);
        r = end;
      }
    };
    // The bytes as they are when every expert's are in one encoding.
    const encodings = parts.map((part) => (part instanceof DeferredTensor ? part.encoded : undefined));
    const first = encodings[0];
    const encoded: EncodedRows | undefined = first && encodings.every((c) => c?.encoding === first.encoding && c.blockCols === first.blockCols) ? {
      encoding: first.encoding,
      blockCols: first.blockCols,
      read: (r0, r1, run, row0) => byExpert(r0, r1, (e, from, to, o) => encodings[e]!.read(from, to, run, row0 + o)),
    } : undefined;
    return new DeferredTensor([nExpert, rows, cols], (r0, r1, out, at) => byExpert(r0, r1, (e, from, to, o) => {
      const part = parts[e];
      if (part instanceof DeferredTensor) part.read(from, to, out, at + o * cols);
      else out.set(part.subarray(from * cols, to * cols), at + o * cols);
    }), encoded,
    () => { for (const part of parts) if (part instanceof DeferredTensor) part.own(); });
  }
  const slab = rows * cols;
  const out = new Float32Array(nExpert * slab);
  parts.forEach((part, e) => out.set(part as Float32Array, e * slab));
  // Copies of tensors takeF32 has checked.
  return markFinite(out);
}
