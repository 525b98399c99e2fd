// Block-wise FP8 weights (f8_e4m3 + `<name>_scale_inv`, quantization_config.weight_block_size), as the
// released DeepSeek-V3 / R1 and Qwen3 "-FP8" checkpoints store their linear layers, against the same layer
// given in f32. The f32 weights are computed here element by element: e4m3 decoded from its bit fields
// (sign, exponent bias 7, 3 mantissa bits, subnormals at 2^-9) times the scale of the element's block, a
// product f32 rounds once. So the canonical weights must agree bit for bit, and so must the outputs.
import { describe, expect, it } from 'vitest';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import { rng } from '../cases/rng.js';
import { fromHuggingFace } from '../../ts/entry/node.js';
import { f32ToBf16 } from '../../ts/formats/dtype.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { readSafetensors } from '../../ts/formats/safetensors.js';
import type { CheckpointTensor } from '../../ts/spec/types.js';
import { errorOf } from './error-of.js';
import { firstNanByte } from '../../ts/formats/fp8.js';
import { expectCanonical } from './canonical-weights.js';
import { writeSafetensors } from './huggingface-checkpoint.js';

function e4m3(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const e = (byte >> 3) & 15;
  const m = byte & 7;
  return e === 0 ? sign * (m / 8) * 2 ** -6 : sign * (1 + m / 8) * 2 ** (e - 7);
}

interface Fp8 { bytes: Uint8Array; scales: Float32Array; rows: number; cols: number }

/** Random e4m3 bytes (never the NaN pattern S.1111.111) and block scales. */
function randomFp8(next: () => number, rows: number, cols: number, [bm, bn]: [number, number]): Fp8 {
  const bytes = Uint8Array.from({ length: rows * cols }, () => {
    const b = Math.floor(next() * 256);
    return (b & 0x7f) === 0x7f ? b ^ 1 : b;
  });
  const scales = Float32Array.from({ length: Math.ceil(rows / bm) * Math.ceil(cols / bn) }, () => (0.5 + next()) / 448);
  return { bytes, scales, rows, cols };
}

function dense(w: Fp8, [bm, bn]: [number, number]): Float32Array {
  const out = new Float32Array(w.rows * w.cols);
  const gridCols = Math.ceil(w.cols / bn);
  for (let i = 0; i < w.rows; i++) {
    for (let j = 0; j < w.cols; j++) {
      out[i * w.cols + j] = e4m3(w.bytes[i * w.cols + j]) * w.scales[Math.floor(i / bm) * gridCols + Math.floor(j / bn)];
    }
  }
  return out;
}

const LINEAR = ['gate_proj', 'up_proj', 'down_proj'] as const;

function layer(seed: number, E: number, k: number, d: number, f: number, block: [number, number]) {
  const next = rng(seed);
  const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (2 * next() - 1) * scale);
  const config = {
    model_type: 'deepseek_v3', hidden_act: 'silu', hidden_size: d, moe_intermediate_size: f, n_routed_experts: E, num_experts_per_tok: k,
    n_group: 2, topk_group: 2, routed_scaling_factor: 2.5, norm_topk_prob: true, n_shared_experts: 1,
    quantization_config: { quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: block },
  };
  const router = { 'gate.weight': random(E * d, 0.3), 'gate.e_score_correction_bias': random(E, 0.05) };
  const fp8: Record<string, CheckpointTensor> = {};
  const f32: Record<string, Float32Array> = {};
  const put = (name: string, rows: number, cols: number) => {
    const w = randomFp8(next, rows, cols, block);
    fp8[name] = { dtype: 'f8_e4m3', shape: [rows, cols], data: w.bytes };
    fp8[`${name}_scale_inv`] = { dtype: 'f32', shape: [Math.ceil(rows / block[0]), Math.ceil(cols / block[1])], data: w.scales };
    f32[name] = dense(w, block);
  };
  for (let e = 0; e < E; e++) for (const p of LINEAR) put(`experts.${e}.${p}.weight`, p === 'down_proj' ? d : f, p === 'down_proj' ? f : d);
  for (const p of LINEAR) put(`shared_experts.${p}.weight`, p === 'down_proj' ? d : f, p === 'down_proj' ? f : d);
  return { config, router, fp8, f32, hidden: random(6 * d, 1) };
}

describe('block-wise FP8 weights (DeepSeek-V3 checkpoints)', () => {
  // Blocks that divide the shapes, and ones that leave partial blocks at the edges.
  const cases = [[4, 2, 32, 16, [16, 16]], [4, 3, 40, 24, [8, 16]], [6, 2, 36, 20, [128, 128]], [4, 4, 24, 40, [16, 8]]] as const;

  it('dequantise to the f32 weights, bit for bit', () => {
    for (const [i, [E, k, d, f, block]] of cases.entries()) {
      const l = layer(300 + i, E, k, d, f, [...block]);
      const want = huggingFaceToCanonical({ config: l.config, tensors: { ...l.router, ...l.f32 } }).weights;
      // After own() (what a block that keeps them calls) the caller's bytes may be reused: a deferred projection
      // then reads its own copy.
      const own = Object.fromEntries(Object.entries(l.fp8).map(([name, t]) => [name, { ...t, data: (t.data as Uint8Array).slice() }]));
      const got = huggingFaceToCanonical({ config: l.config, tensors: { ...l.router, ...own } }).weights;
      for (const t of Object.values(got)) if (t instanceof DeferredTensor) t.own();
      for (const t of Object.values(own)) (t.data as Uint8Array).fill(0);
      expectCanonical(got, want);
    }
  });

  it('load from a safetensors file (F8_E4M3, f32 scales, a bf16 router) and run as the f32 layer does', async () => {
    const [E, k, d, f, block] = cases[1];
    const l = layer(11, E, k, d, f, [...block]);
    const prefix = 'model.layers.3.mlp.';
    const bf16Router = { 'gate.weight': { dtype: 'bf16' as const, shape: [E, d], data: f32ToBf16(l.router['gate.weight']) } };
    const file = readSafetensors(writeSafetensors(Object.fromEntries(Object.entries({
      ...bf16Router, 'gate.e_score_correction_bias': { dtype: 'f32' as const, shape: [E], data: l.router['gate.e_score_correction_bias'] }, ...l.fp8,
    }).map(([name, t]) => [prefix + name, t as never]))));
    expect(file.tensors.get(`${prefix}experts.0.up_proj.weight`)?.dtype).toBe('f8_e4m3');
    // wasm packs the FP8 projections from runs of dequantised rows; f32, f16 and int8 as from the f32 layer.
    const runs = [['reference', 'f32'], ['wasm', 'f32'], ['wasm', 'f16'], ['wasm', 'int8']] as const;
    for (const [backend, weightDtype] of runs) {
      const fromFile = await fromHuggingFace({ config: l.config, tensors: file, prefix }, { backend, weightDtype });
      const fromF32 = await fromHuggingFace({ config: l.config, tensors: { ...l.router, ...bf16Router, ...l.f32 } }, { backend, weightDtype });
      const a = await fromFile.forward(l.hidden, { tokens: 6 });
      const b = await fromF32.forward(l.hidden, { tokens: 6 });
      expect(a.routing.indices).toEqual(b.routing.indices);
      expect(a.output).toEqual(b.output);
      expect(a.output.every(Number.isFinite)).toBe(true);
      fromFile.destroy();
      fromF32.destroy();
    }
  });

  it('finds the first NaN byte at any position and alignment, as a byte-by-byte scan does', () => {
    const next = rng(21);
    const buffer = new Uint8Array(300).map(() => Math.floor(next() * 256) & 0xfe); // never 0x7f / 0xff
    const scan = (b: Uint8Array) => b.findIndex((v) => (v & 0x7f) === 0x7f);
    for (let offset = 0; offset < 4; offset++) {
      for (const length of [0, 1, 3, 4, 5, 17, 64, 250]) {
        const bytes = buffer.subarray(offset, offset + length);
        expect(firstNanByte(bytes)).toBe(-1);
        for (let at = 0; at < length; at++) {
          for (const nan of [0x7f, 0xff]) {
            const copy = bytes.slice();
            const saved = bytes[at];
            bytes[at] = nan;
            if (at + 7 < length) bytes[at + 7] = 0x7f; // a later one does not change the answer
            expect(firstNanByte(bytes), `offset ${offset}, length ${length}, at ${at}`).toBe(scan(bytes));
            expect(firstNanByte(bytes)).toBe(at);
            bytes.set(copy);
            expect(bytes[at]).toBe(saved);
          }
        }
      }
    }
    // Bytes one bit off the pattern are numbers: 0x7e, 0x3f, 0xfe, 0xbf.
    expect(firstNanByte(Uint8Array.from([0x7e, 0x3f, 0xfe, 0xbf, 0x7e, 0x3f, 0xfe, 0xbf, 0x77]))).toBe(-1);
  });

  it('refuses NaN bytes, missing or misshapen scales, a bad block size, and products past f32', () => {
    const [E, k, d, f, block] = cases[0];
    const l = layer(13, E, k, d, f, [...block]);
    const w = 'experts.1.gate_proj.weight';
    const convert = (tensors: Record<string, CheckpointTensor>, config: Record<string, unknown> = l.config) =>
      errorOf(() => huggingFaceToCanonical({ config, tensors: { ...l.router, ...l.fp8, ...tensors } }));
    const bytes = (l.fp8[w] as { data: Uint8Array }).data.slice();
    bytes[5] = 0xff;
    expect(convert({ [w]: { dtype: 'f8_e4m3', shape: [f, d], data: bytes } })).toEqual(['range', w]);
    // Not bytes: a dtype mistake, whatever the data is.
    for (const data of [null, new Float32Array(f * d), [1, 2]]) {
      expect(convert({ [w]: { dtype: 'f8_e4m3', shape: [f, d], data } as never })).toEqual(['dtype', w]);
    }
    const { [`${w}_scale_inv`]: _, ...noScale } = l.fp8;
    expect(errorOf(() => huggingFaceToCanonical({ config: l.config, tensors: { ...l.router, ...noScale } }))).toEqual(['shape', `${w}_scale_inv`]);
    expect(convert({ [`${w}_scale_inv`]: { dtype: 'f32', shape: [1, 1], data: new Float32Array(1) } })).toEqual(['shape', `${w}_scale_inv`]);
    // Scales that are no tensor at all: refused by name, not a TypeError on their missing shape.
    for (const [scale, code] of [[null, 'dtype'], [1, 'dtype'], [{ dtype: 'f32', data: new Float32Array(1) }, 'shape'], [{ dtype: 'f32', shape: 'x', data: new Float32Array(1) }, 'shape']] as const) {
      expect(convert({ [`${w}_scale_inv`]: scale as never }), JSON.stringify(scale)).toEqual([code, `${w}_scale_inv`]);
    }
    // The same scales read under another block size no longer fit.
    const q = { ...l.config.quantization_config, weight_block_size: [8, 8] };
    expect(convert({}, { ...l.config, quantization_config: q })).toEqual(['shape', 'experts.0.gate_proj.weight_scale_inv']);
    expect(convert({}, { ...l.config, quantization_config: { ...q, weight_block_size: [0, 16] } }))
      .toEqual(['config', 'config.quantization_config.weight_block_size']);
    const huge = new Float32Array((l.fp8[`${w}_scale_inv`] as { data: Float32Array }).data).fill(1e37);
    expect(convert({ [`${w}_scale_inv`]: { dtype: 'f32', shape: [f / 16, d / 16], data: huge } })).toEqual(['range', w]);
    // An FP8 tensor where a vector is read (the router bias) is a dtype mistake.
    expect(convert({ 'gate.e_score_correction_bias': { dtype: 'f8_e4m3', shape: [E], data: new Uint8Array(E) } }))
      .toEqual(['dtype', 'gate.e_score_correction_bias']);
  });

  it("per-tensor and per-row scales (<name>_scale, compressed-tensors' float-quantized form) in a Mixtral layer", () => {
    const next = rng(17);
    const [E, k, d, f] = [3, 2, 24, 20];
    const config = { model_type: 'mixtral', hidden_act: 'silu', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: k };
    const gate = Float32Array.from({ length: E * d }, () => next() - 0.5);
    const fp8: Record<string, CheckpointTensor> = { 'gate.weight': gate };
    const f32: Record<string, Float32Array> = { 'gate.weight': gate };
    for (let e = 0; e < E; e++) {
      for (const [w, rows, cols] of [['w1', f, d], ['w3', f, d], ['w2', d, f]] as const) {
        const name = `experts.${e}.${w}.weight`;
        // w1 one scale ([]), w3 one per row ([rows, 1]), w2 one scale ([1]).
        const perRow = w === 'w3';
        const block: [number, number] = perRow ? [1, cols] : [rows, cols];
        const q = randomFp8(next, rows, cols, block);
        fp8[name] = { dtype: 'f8_e4m3', shape: [rows, cols], data: q.bytes };
        fp8[`${name}_scale`] = { dtype: 'f32', shape: perRow ? [rows, 1] : w === 'w1' ? [] : [1], data: q.scales };
        f32[name] = dense(q, block);
      }
    }
    const want = huggingFaceToCanonical({ config, tensors: f32 }).weights;
    expectCanonical(huggingFaceToCanonical({ config, tensors: fp8 }).weights, want);
    const w = 'experts.1.w3.weight';
    expect(errorOf(() => huggingFaceToCanonical({ config, tensors: { ...fp8, [`${w}_scale`]: { dtype: 'f32', shape: [2], data: new Float32Array(2) } } })))
      .toEqual(['shape', `${w}_scale`]);
    const { [`${w}_scale`]: _, ...noScale } = fp8;
    expect(errorOf(() => huggingFaceToCanonical({ config, tensors: noScale }))).toEqual(['shape', `${w}_scale_inv`]);
  });
});
