// huggingFaceToCanonical on the Mixtral golden (fused transformers-v5 names) and on per-expert on-disk names.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import { expectCanonical } from './canonical-weights.js';
import { SwitchyardError } from '../../ts/errors.js';
import { decodeBf16, encodeBf16, f32ToBf16, toFloat32 } from '../../ts/formats/dtype.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { moeLayers } from '../../ts/formats/layers.js';
import { readSafetensors, type SafetensorsFile } from '../../ts/formats/safetensors.js';
import type { Tensor, TensorLike } from '../../ts/spec/types.js';
import { GOLDENS_DIR } from './goldens-dir.js';

const GOLDENS = new URL('mixtral/', GOLDENS_DIR);
const golden = readSafetensors(new Uint8Array(readFileSync(new URL('tensors.safetensors', GOLDENS))));
const caseJson = JSON.parse(readFileSync(new URL('case.json', GOLDENS), 'utf8')) as {
  family: string; config: Record<string, unknown>; shapes: { T: number; d_model: number; d_ff: number; E: number; k: number };
};
const { T, d_model: d, d_ff: dFF, E, k } = caseJson.shapes;

// Output blocks: abs 1e-5, rel 1e-4 (goldens README, f32 compute).
const OUTPUT_ABS = 1e-5;
const OUTPUT_REL = 1e-4;

function f32(name: string): Float32Array {
  return toFloat32(golden.tensors.get(name)!, name);
}

/** A minimal safetensors writer (F32/BF16), tensors contiguous in the given order. */
function writeSafetensors(tensors: Record<string, Tensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype.toUpperCase(), shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** The golden's fused weights split into Mixtral's per-expert w1 (gate) / w3 (up) / w2 (down) under `prefix`. */
function perExpertTensors(prefix: string, encode: (x: Float32Array) => Tensor['data'], dtype: 'f32' | 'bf16'): Record<string, Tensor> {
  const gateUp = f32('experts.gate_up_proj'); // [E, 2·dFF, d]
  const down = f32('experts.down_proj'); // [E, d, dFF]
  const out: Record<string, Tensor> = {
    [`${prefix}gate.weight`]: { dtype, shape: [E, d], data: encode(f32('gate.weight')) },
  };
  const slab = dFF * d;
  for (let e = 0; e < E; e++) {
    out[`${prefix}experts.${e}.w1.weight`] = { dtype, shape: [dFF, d], data: encode(gateUp.slice(2 * e * slab, (2 * e + 1) * slab)) };
    out[`${prefix}experts.${e}.w3.weight`] = { dtype, shape: [dFF, d], data: encode(gateUp.slice((2 * e + 1) * slab, (2 * e + 2) * slab)) };
    out[`${prefix}experts.${e}.w2.weight`] = { dtype, shape: [d, dFF], data: encode(down.slice(e * slab, (e + 1) * slab)) };
  }
  return out;
}

/** Bit-for-bit equality of two f32 tensors (a loop: toEqual on 100k-element arrays is slow). */
function expectSame(got: TensorLike, want: TensorLike): void {
  expect(got).toBeInstanceOf(Float32Array);
  const a = new Uint32Array((got as Float32Array).slice().buffer);
  const b = new Uint32Array((want as Float32Array).slice().buffer);
  expect(a.length).toBe(b.length);
  let mismatch = -1;
  for (let i = 0; i < a.length && mismatch < 0; i++) if (a[i] !== b[i]) mismatch = i;
  expect(mismatch, 'first differing element').toBe(-1);
}

function expectError(fn: () => unknown, code: string, argument: string): SwitchyardError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SwitchyardError);
  expect((caught as SwitchyardError).code, (caught as Error).message).toBe(code);
  expect((caught as SwitchyardError).argument).toBe(argument);
  return caught as SwitchyardError;
}

/** Reference SwiGLU MoE output from canonical weights and the golden's routing, in f64. */
function moeOutput(w: Record<string, TensorLike>): Float64Array {
  const [gate, up, down] = ['experts.gate', 'experts.up', 'experts.down'].map((n) => w[n] as Float32Array);
  const hidden = f32('input.hidden'); // [T, d]
  const ids = golden.tensors.get('expected.topk_indices')!.data as Int32Array; // [T, k]
  const weights = f32('expected.topk_weights'); // [T, k]
  const out = new Float64Array(T * d);
  const act = new Float64Array(dFF);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const e = ids[t * k + j];
      for (let f = 0; f < dFF; f++) {
        let g = 0;
        let u = 0;
        for (let i = 0; i < d; i++) {
          const x = hidden[t * d + i];
          g += gate[(e * dFF + f) * d + i] * x;
          u += up[(e * dFF + f) * d + i] * x;
        }
        act[f] = (g / (1 + Math.exp(-g))) * u;
      }
      for (let o = 0; o < d; o++) {
        let y = 0;
        for (let f = 0; f < dFF; f++) y += down[(e * d + o) * dFF + f] * act[f];
        out[t * d + o] += weights[t * k + j] * y;
      }
    }
  }
  return out;
}

describe('huggingFaceToCanonical: mixtral golden (fused names)', () => {
  const { config, weights } = huggingFaceToCanonical({ config: caseJson.config, tensors: golden, modelType: caseJson.family });

  it('maps the config', () => {
    expect(config).toEqual({
      dModel: d,
      router: { kind: 'topk', numExperts: E, topK: k, score: 'softmax', normalize: true },
      expert: { dFF, activation: 'swiglu' },
    });
  });

  it('produces the canonical tensors with their shapes', () => {
    expect(Object.keys(weights).sort()).toEqual(['experts.down', 'experts.gate', 'experts.up', 'router.weight']);
    expect((weights['router.weight'] as Float32Array).length).toBe(E * d);
    expect((weights['experts.gate'] as Float32Array).length).toBe(E * dFF * d);
    expect((weights['experts.up'] as Float32Array).length).toBe(E * dFF * d);
    expect((weights['experts.down'] as Float32Array).length).toBe(E * d * dFF);
    for (const w of Object.values(weights)) expect(w).toBeInstanceOf(Float32Array);
  });

  it('splits gate rows before up rows: the golden output is reproduced', () => {
    const got = moeOutput(weights);
    const expected = f32('expected.output');
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(got[i] - expected[i]) - (OUTPUT_ABS + OUTPUT_REL * Math.abs(expected[i])));
    }
    expect(worst).toBeLessThanOrEqual(0);
  });

  it('accepts the tensors as a record, a Map and shards', () => {
    const names = ['gate.weight', 'experts.gate_up_proj', 'experts.down_proj'];
    const record = Object.fromEntries(names.map((n) => [n, golden.tensors.get(n)!]));
    const shards: SafetensorsFile[] = [
      { tensors: new Map([[names[0], record[names[0]]]]), metadata: {} },
      { tensors: new Map(names.slice(1).map((n) => [n, record[n]])), metadata: {} },
    ];
    for (const tensors of [record, new Map(Object.entries(record)), shards]) {
      const r = huggingFaceToCanonical({ config: { ...caseJson.config, model_type: 'mixtral' }, tensors });
      for (const name of Object.keys(weights)) expectSame(r.weights[name], weights[name]);
    }
  });

  it('refuses shards that repeat a name (the copy taken would depend on their order) and holes in the array', () => {
    const names = ['gate.weight', 'experts.gate_up_proj', 'experts.down_proj'];
    const config = { ...caseJson.config, model_type: 'mixtral' };
    const all: SafetensorsFile = { tensors: new Map(names.map((n) => [n, golden.tensors.get(n)!])), metadata: {} };
    const router: SafetensorsFile = { tensors: new Map([[names[0], golden.tensors.get(names[0])!]]), metadata: {} };
    for (const tensors of [[all, router], [router, all]]) {
      const err = expectError(() => huggingFaceToCanonical({ config, tensors }), 'shape', 'gate.weight');
      expect(err.message).toMatch(/tensors\[0\] and tensors\[1\]/);
    }
    expectError(() => huggingFaceToCanonical({ config, files: { 'a.safetensors': all, 'b.safetensors': router } }), 'shape', 'gate.weight');
    // eslint-disable-next-line no-sparse-arrays
    expectError(() => huggingFaceToCanonical({ config, tensors: [router, , all] as SafetensorsFile[] }), 'shape', 'tensors[1]');
  });
});

describe('huggingFaceToCanonical: per-expert names under a prefix', () => {
  const prefix = 'model.layers.3.block_sparse_moe.';
  const reference = huggingFaceToCanonical({ config: caseJson.config, tensors: golden, modelType: 'mixtral' }).weights;

  it('gives tensors identical to the fused golden (through a safetensors round trip)', () => {
    const file = readSafetensors(writeSafetensors(perExpertTensors(prefix, (x) => x, 'f32')));
    for (const p of [prefix, prefix.slice(0, -1)]) { // a missing final '.' is added
      const { weights } = huggingFaceToCanonical({ config: caseJson.config, tensors: file, prefix: p, modelType: 'mixtral' });
      for (const name of Object.keys(reference)) expectSame(weights[name], reference[name]);
    }
  });

  it('widens bf16 checkpoints', () => {
    const file = readSafetensors(writeSafetensors(perExpertTensors(prefix, f32ToBf16, 'bf16')));
    const { weights } = huggingFaceToCanonical({ config: caseJson.config, tensors: file, prefix, modelType: 'mixtral' });
    // Exactly the bf16 rounding of each f32 weight, widened back (bf16 → f32 is exact); the expert projections
    // stay bf16 until read (deferred), whole or by rows.
    const want = Object.fromEntries(Object.keys(reference).map((name) => [name, Float32Array.from(reference[name] as Float32Array, (x) => decodeBf16(encodeBf16(x)))]));
    expect(weights['experts.gate']).toBeInstanceOf(DeferredTensor);
    expectCanonical(weights, want);
  });

  it('accepts gate_proj / up_proj / down_proj per-expert names', () => {
    const renamed: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(perExpertTensors(prefix, (x) => x, 'f32'))) {
      renamed[name.replace('.w1.', '.gate_proj.').replace('.w3.', '.up_proj.').replace('.w2.', '.down_proj.')] = t;
    }
    const { weights } = huggingFaceToCanonical({ config: caseJson.config, tensors: renamed, prefix, modelType: 'mixtral' });
    for (const name of Object.keys(reference)) expectSame(weights[name], reference[name]);
  });

  it('reads only the tensors of its own layer', () => {
    const tensors = new Map<string, TensorLike>(Object.entries(perExpertTensors(prefix, (x) => x, 'f32')));
    // Another layer's tensors are i32: converting any of them would throw.
    tensors.set('model.layers.4.block_sparse_moe.gate.weight', { dtype: 'i32', shape: [E, d], data: new Int32Array(E * d) });
    const requested: string[] = [];
    const spy = new Map(tensors);
    spy.get = (name: string) => (requested.push(name), tensors.get(name));
    huggingFaceToCanonical({ config: caseJson.config, tensors: spy, prefix, modelType: 'mixtral' });
    expect(requested.length).toBeGreaterThan(0);
    for (const name of requested) expect(name.startsWith(prefix)).toBe(true);
  });
});

describe('huggingFaceToCanonical: errors', () => {
  const tensors = golden;
  const config = caseJson.config;

  it('reports unknown or missing model types', () => {
    expectError(() => huggingFaceToCanonical({ config, tensors }), 'config', 'config.model_type');
    expectError(() => huggingFaceToCanonical({ config: { ...config, model_type: 'llama' }, tensors }), 'config', 'config.model_type');
    // The modelType option overrides config.model_type, and is named as given.
    expectError(() => huggingFaceToCanonical({ config, tensors, modelType: 'constructor' }), 'config', 'modelType');
    expectError(() => huggingFaceToCanonical({ config, tensors, modelType: 'llama' }), 'config', 'modelType');
    expectError(() => moeLayers(config, { modelType: 'llama' }), 'config', 'options.modelType');
  });

  it('reports missing or bad config fields', () => {
    for (const field of ['hidden_size', 'intermediate_size', 'num_local_experts', 'num_experts_per_tok']) {
      const { [field]: _, ...rest } = config;
      expectError(() => huggingFaceToCanonical({ config: rest, tensors, modelType: 'mixtral' }), 'config', `config.${field}`);
      expectError(() => huggingFaceToCanonical({ config: { ...config, [field]: 1.5 }, tensors, modelType: 'mixtral' }), 'config', `config.${field}`);
    }
    expectError(() => huggingFaceToCanonical({ config: { ...config, num_experts_per_tok: 9 }, tensors, modelType: 'mixtral' }),
      'config', 'config.num_experts_per_tok');
    expectError(() => huggingFaceToCanonical({ config: { ...config, hidden_act: 'gelu_pytorch_tanh' }, tensors, modelType: 'mixtral' }),
      'config', 'config.hidden_act');
  });

  it('reports missing and misshapen tensors by their full names', () => {
    const prefix = 'model.layers.0.block_sparse_moe.';
    const full = perExpertTensors(prefix, (x) => x, 'f32');
    const without = (name: string): Record<string, Tensor> => {
      const { [name]: _, ...rest } = full;
      return rest;
    };
    const run = (t: Record<string, TensorLike>): unknown => huggingFaceToCanonical({ config, tensors: t, prefix, modelType: 'mixtral' });
    expectError(() => run(without(`${prefix}gate.weight`)), 'shape', `${prefix}gate.weight`);
    expectError(() => run(without(`${prefix}experts.5.w2.weight`)), 'shape', `${prefix}experts.5.w2.weight`);
    expectError(() => run(without(`${prefix}experts.0.w1.weight`)), 'shape', `${prefix}experts.gate_up_proj`);
    expectError(() => run({ ...full, [`${prefix}experts.2.w3.weight`]: { dtype: 'f32', shape: [d, dFF], data: new Float32Array(d * dFF) } }),
      'shape', `${prefix}experts.2.w3.weight`);
    expectError(() => run({ ...full, [`${prefix}gate.weight`]: new Float32Array(E * d + 1) }), 'shape', `${prefix}gate.weight`);
    expectError(() => run({ ...full, [`${prefix}gate.weight`]: { dtype: 'i32', shape: [E, d], data: new Int32Array(E * d) } }),
      'dtype', `${prefix}gate.weight`);
    const withNaN = (name: string, n: number): Record<string, TensorLike> => {
      const data = new Float32Array(n).fill(0.5);
      data[n - 1] = Number.NaN;
      return { ...full, [name]: { dtype: 'f32', shape: full[name].shape, data } };
    };
    expectError(() => run(withNaN(`${prefix}gate.weight`, E * d)), 'range', `${prefix}gate.weight`);
    expectError(() => run(withNaN(`${prefix}experts.3.w2.weight`, d * dFF)), 'range', `${prefix}experts.3.w2.weight`);
    // bf16 / f16: ±∞ and NaN found in the bits before anything is widened, the element named — in a router
    // weight (widened now) and in an expert projection (kept as bits until a path reads it).
    for (const [dtype, bits, shown] of [['bf16', 0x7fc1, 'NaN'], ['bf16', 0xff80, '-Infinity'], ['f16', 0x7c00, 'Infinity'], ['f16', 0xfe01, 'NaN']] as const) {
      for (const [name, n] of [[`${prefix}gate.weight`, E * d], [`${prefix}experts.3.w2.weight`, d * dFF]] as const) {
        const data = new Uint16Array(n).fill(0x3c00);
        data[n - 2] = bits;
        let caught: unknown;
        try {
          run({ ...full, [name]: { dtype, shape: full[name].shape, data } });
        } catch (e) {
          caught = e;
        }
        expect(caught, `${dtype} ${bits.toString(16)} in ${name}`).toMatchObject({ code: 'range', argument: name, message: expect.stringContaining(`received ${shown} at element ${n - 2}`) });
      }
    }

    const fused = { 'gate.weight': golden.tensors.get('gate.weight')!, 'experts.gate_up_proj': golden.tensors.get('experts.gate_up_proj')! };
    expectError(() => huggingFaceToCanonical({ config, tensors: fused, modelType: 'mixtral' }), 'shape', 'experts.down_proj');
    const transposed = { ...fused, 'experts.down_proj': { dtype: 'f32' as const, shape: [E, dFF, d], data: new Float32Array(E * dFF * d) } };
    expectError(() => huggingFaceToCanonical({ config, tensors: transposed, modelType: 'mixtral' }), 'shape', 'experts.down_proj');
  });

  it('refuses a file\'s bytes passed as tensors, unparsed', () => {
    const bytes = readFileSync(new URL('tensors.safetensors', GOLDENS));
    for (const raw of [new Uint8Array(bytes), bytes.buffer]) {
      const e = expectError(() => huggingFaceToCanonical({ config, tensors: raw as never, modelType: 'mixtral' }), 'shape', 'tensors');
      expect(e.message).toContain('readSafetensors');
    }
  });

  it('refuses config.json or the shard index passed unparsed, or the index\'s weight_map alone, saying so', () => {
    const text = JSON.stringify(config);
    for (const raw of [text, new TextEncoder().encode(text), Buffer.from(text), new TextEncoder().encode(text).buffer]) {
      const e = expectError(() => huggingFaceToCanonical({ config: raw as never, tensors }), 'config', 'config');
      expect(e.message).toContain('JSON.parse');
    }
    const weightMap = Object.fromEntries(Object.keys(tensors).map((name) => [name, 'model.safetensors']));
    const files = [readSafetensors(readFileSync(new URL('tensors.safetensors', GOLDENS)))];
    expect(expectError(() => huggingFaceToCanonical({ config, files, index: JSON.stringify({ weight_map: weightMap }) as never, modelType: 'mixtral' }), 'config', 'index').message)
      .toContain('the parsed model.safetensors.index.json');
    expect(expectError(() => huggingFaceToCanonical({ config, files, index: weightMap as never, modelType: 'mixtral' }), 'config', 'index').message)
      .toContain('its weight_map alone?');
  });

  it('names the prefixes that hold the block when no prefix, one holding no tensor or the layer\'s is given', () => {
    const layers = ['model.layers.0.block_sparse_moe.', 'model.layers.1.block_sparse_moe.'];
    const twoLayers = Object.assign({}, ...layers.map((p) => perExpertTensors(p, (x) => x, 'f32'))) as Record<string, Tensor>;
    const run = (t: Record<string, TensorLike>, prefix?: string): unknown => huggingFaceToCanonical({ config, tensors: t, prefix, modelType: 'mixtral' });
    for (const prefix of [undefined, 'model.layers.7.mlp.']) {
      const e = expectError(() => run(twoLayers, prefix), 'config', 'prefix');
      for (const p of layers) expect(e.message).toContain(`'${p}'`);
      expect(e.message).toContain(`${prefix ?? ''}gate.weight`);
    }
    // The layer's prefix instead of its block's: the block's, under it, is named (and not the other layer's).
    const e1 = expectError(() => run(twoLayers, 'model.layers.1'), 'config', 'prefix');
    expect(e1.message).toContain(`'${layers[1]}'`);
    expect(e1.message).not.toContain(layers[0]);
    // A prefix holding part of a block: that block is incomplete, so the missing tensor is what is reported.
    const { [`${layers[1]}gate.weight`]: _, ...incomplete } = twoLayers;
    const e = expectError(() => run(incomplete, layers[1]), 'shape', `${layers[1]}gate.weight`);
    expect(e.message).not.toContain(layers[0]);
    expect(run(twoLayers, layers[1])).toBeDefined();
  });
});
