// GPT-OSS experts stored as MXFP4 (u8 blocks of e2m1 nibbles, one e8m0 scale per 32 values), as the released
// openai/gpt-oss checkpoints ship them, against the same layer given as dequantised fused tensors (the
// transformers-v5 names, whose path families.test.ts and the gpt_oss golden check against transformers).
// The dequantisation here is written element by element from the layout transformers'
// convert_moe_packed_tensors reads: low nibble first, value · 2^(scale − 127), then the last two axes swapped.
// MXFP4 values are exact in f32, so the canonical weights must agree bit for bit, and so must the outputs.
import { describe, expect, it } from 'vitest';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import { rng } from '../cases/rng.js';
import { fromHuggingFace } from '../../ts/entry/node.js';
import { f32ToBf16 } from '../../ts/formats/dtype.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { readSafetensors, readSafetensorsHeader, safetensorsHeaderSize } from '../../ts/formats/safetensors.js';
import type { CheckpointTensor } from '../../ts/spec/types.js';
import { errorOf } from './error-of.js';
import { writeSafetensors } from './huggingface-checkpoint.js';
import { expectCanonical } from './canonical-weights.js';
import { dawnDeviceFor, inCI } from './dawn-device.js';

const { device } = await dawnDeviceFor('mxfp4');

const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

interface Mx {
  blocks: Uint8Array; // [E, rows, cols / 32, 16]
  scales: Uint8Array; // [E, rows, cols / 32]
  rows: number;
  cols: number;
}

/** Random blocks and scales around 2^0 (scales 120..131), so values span a few binades. */
function randomMx(next: () => number, E: number, rows: number, cols: number): Mx {
  const blocks = Uint8Array.from({ length: (E * rows * cols) / 2 }, () => Math.floor(next() * 256));
  const scales = Uint8Array.from({ length: (E * rows * cols) / 32 }, () => 120 + Math.floor(next() * 12));
  return { blocks, scales, rows, cols };
}

/** Element [e][r][c] of the MXFP4 matrix. */
function mxValue(m: Mx, e: number, r: number, c: number): number {
  const block = (e * m.rows + r) * (m.cols / 32) + Math.floor(c / 32);
  const byte = m.blocks[block * 16 + ((c % 32) >> 1)];
  const nibble = c % 2 === 0 ? byte & 15 : byte >> 4;
  return E2M1[nibble] * 2 ** (m.scales[block] - 127);
}

/** The fused tensor transformers holds after dequantising: [E, cols, rows] (rows and cols swapped). */
function fusedOf(m: Mx, E: number): Float32Array {
  const out = new Float32Array(E * m.rows * m.cols);
  for (let e = 0; e < E; e++) {
    for (let c = 0; c < m.cols; c++) for (let r = 0; r < m.rows; r++) out[(e * m.cols + c) * m.rows + r] = mxValue(m, e, r, c);
  }
  return out;
}

const u8 = (data: Uint8Array, shape: number[]): CheckpointTensor => ({ dtype: 'u8', shape, data });

function layer(seed: number, E: number, k: number, d: number, f: number) {
  const next = rng(seed);
  const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => (2 * next() - 1) * scale);
  const gateUp = randomMx(next, E, 2 * f, d);
  const down = randomMx(next, E, d, f);
  const config = { model_type: 'gpt_oss', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: k, swiglu_limit: 7 };
  const common = {
    'router.weight': random(E * d, 0.3), 'router.bias': random(E, 0.5),
    'experts.gate_up_proj_bias': random(E * 2 * f, 0.5), 'experts.down_proj_bias': random(E * d, 0.5),
  };
  const mx = {
    'experts.gate_up_proj_blocks': u8(gateUp.blocks, [E, 2 * f, d / 32, 16]), 'experts.gate_up_proj_scales': u8(gateUp.scales, [E, 2 * f, d / 32]),
    'experts.down_proj_blocks': u8(down.blocks, [E, d, f / 32, 16]), 'experts.down_proj_scales': u8(down.scales, [E, d, f / 32]),
  };
  const fused = { 'experts.gate_up_proj': fusedOf(gateUp, E), 'experts.down_proj': fusedOf(down, E) };
  return { config, common, mx, fused, hidden: random(5 * d, 1) };
}

describe('GPT-OSS MXFP4 experts', () => {
  const shapes = [[2, 1, 32, 32], [4, 2, 64, 96], [3, 3, 96, 64]] as const;

  it('dequantise to the weights of the fused tensors, bit for bit, each projection either way', () => {
    for (const [i, [E, k, d, f]] of shapes.entries()) {
      const l = layer(100 + i, E, k, d, f);
      const want = huggingFaceToCanonical({ config: l.config, tensors: { ...l.common, ...l.fused } }).weights;
      const forms = [
        { ...l.common, ...l.mx },
        { ...l.common, ...l.mx, 'experts.down_proj': l.fused['experts.down_proj'] },
        { ...l.common, ...l.mx, 'experts.gate_up_proj': l.fused['experts.gate_up_proj'] },
      ];
      for (const tensors of forms) {
        // After own() (what a block that keeps them calls) the caller's bytes may be reused: a deferred projection
        // then reads its own copy.
        const own = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t instanceof Float32Array ? t : { ...t, data: (t.data as Uint8Array).slice() }]));
        const got = huggingFaceToCanonical({ config: l.config, tensors: own }).weights;
        for (const t of Object.values(got)) if (t instanceof DeferredTensor) t.own();
        for (const t of Object.values(own)) if (!(t instanceof Float32Array)) (t.data as Uint8Array).fill(0);
        expectCanonical(got, want);
      }
    }
  });

  it('load from a safetensors file (u8 blocks and scales, bf16 biases), whole or by ranges, and run as the fused layer does', async () => {
    const [E, k, d, f] = shapes[1];
    const l = layer(7, E, k, d, f);
    const prefix = 'model.layers.0.mlp.';
    const bf16 = (name: keyof typeof l.common, shape: number[]) => ({ dtype: 'bf16' as const, shape, data: f32ToBf16(l.common[name]) });
    const bytes = writeSafetensors(Object.fromEntries(Object.entries({
      'router.weight': { dtype: 'f32' as const, shape: [E, d], data: l.common['router.weight'] },
      'router.bias': { dtype: 'f32' as const, shape: [E], data: l.common['router.bias'] },
      'experts.gate_up_proj_bias': bf16('experts.gate_up_proj_bias', [E, 2 * f]),
      'experts.down_proj_bias': bf16('experts.down_proj_bias', [E, d]),
      ...l.mx,
    }).map(([name, t]) => [prefix + name, t])));
    const file = readSafetensors(bytes);
    expect(file.tensors.get(`${prefix}experts.down_proj_scales`)?.dtype).toBe('u8');
    // The same tensors as a reader by ranges gets them: the header from the first bytes, then each tensor's bytes.
    const header = readSafetensorsHeader(bytes.slice(0, safetensorsHeaderSize(bytes.slice(0, 8))), bytes.length);
    const ranged = new Map([...header.tensors].map(([name, e]) => [name, { dtype: e.dtype, shape: e.shape, data: bytes.slice(e.begin, e.end) } as CheckpointTensor]));
    // The dense layer gets the same bf16 biases.
    const dense = {
      ...l.common, ...l.fused,
      'experts.gate_up_proj_bias': bf16('experts.gate_up_proj_bias', [E, 2 * f]), 'experts.down_proj_bias': bf16('experts.down_proj_bias', [E, d]),
    };
    // wasm packs the MXFP4 projections from runs of dequantised rows (no f32 copy of the whole); the dense
    // layer's weights, f32 or converted to f16 / int8 alike, must come out the same.
    const runs = [['reference', 'f32'], ['wasm', 'f32'], ['wasm', 'f16'], ['wasm', 'int8']] as const;
    for (const [backend, weightDtype] of runs) {
      const fromFile = await fromHuggingFace({ config: l.config, tensors: file, prefix }, { backend, weightDtype });
      const fromDense = await fromHuggingFace({ config: l.config, tensors: dense }, { backend, weightDtype });
      const fromRanges = await fromHuggingFace({ config: l.config, tensors: ranged, prefix }, { backend, weightDtype });
      const a = await fromFile.forward(l.hidden, { tokens: 5 });
      const b = await fromDense.forward(l.hidden, { tokens: 5 });
      expect(a.routing.indices).toEqual(b.routing.indices);
      expect(a.output).toEqual(b.output);
      expect(a.output.every(Number.isFinite)).toBe(true);
      expect((await fromRanges.forward(l.hidden, { tokens: 5 })).output).toEqual(a.output);
      fromFile.destroy();
      fromDense.destroy();
      fromRanges.destroy();
    }
  });

  it.runIf(device || inCI)('load on WebGPU (the deferred projections made whole) as the fused layer does, f32 and int8', async () => {
    expect(device, 'no WebGPU adapter').toBeDefined();
    const [E, k, d, f] = shapes[1];
    const l = layer(8, E, k, d, f);
    for (const weightDtype of ['f32', 'int8'] as const) {
      const options = { backend: 'webgpu' as const, device, weightDtype };
      const fromMx = await fromHuggingFace({ config: l.config, tensors: { ...l.common, ...l.mx } }, options);
      const fromDense = await fromHuggingFace({ config: l.config, tensors: { ...l.common, ...l.fused } }, options);
      expect((await fromMx.forward(l.hidden, { tokens: 5 })).output).toEqual((await fromDense.forward(l.hidden, { tokens: 5 })).output);
      fromMx.destroy();
      fromDense.destroy();
    }
  });

  it('refuses NaN scales, values past f32, and blocks of the wrong form', () => {
    const [E, k, d, f] = shapes[0];
    const l = layer(9, E, k, d, f);
    const convert = (tensors: Record<string, CheckpointTensor>, config: Record<string, unknown> = l.config) =>
      errorOf(() => huggingFaceToCanonical({ config, tensors: { ...l.common, ...tensors } }));
    const scales = (value: number, at = 3) => {
      const s = new Uint8Array(E * 2 * f * (d / 32)).fill(127);
      s[at] = value;
      return u8(s, [E, 2 * f, d / 32]);
    };
    const blocks = (byte: number) => u8(new Uint8Array(E * 2 * f * (d / 2)).fill(byte), [E, 2 * f, d / 32, 16]);
    const gu = 'experts.gate_up_proj_blocks';
    expect(convert({ ...l.mx, 'experts.gate_up_proj_scales': scales(255) })).toEqual(['range', gu]);
    // 6 · 2^127 overflows f32; 1.5 · 2^127 (nibble 3) does not.
    expect(convert({ ...l.mx, [gu]: blocks(0x77), 'experts.gate_up_proj_scales': scales(254) })).toEqual(['range', gu]);
    expect(convert({ ...l.mx, [gu]: blocks(0x33), 'experts.gate_up_proj_scales': scales(254) })).toBeUndefined();
    expect(convert({ ...l.mx, [gu]: u8(new Uint8Array(16), [1, 1, 1, 16]) })).toEqual(['shape', gu]);
    expect(convert({ ...l.mx, [gu]: new Float32Array(E * 2 * f * (d / 2)) })).toEqual(['dtype', gu]);
    const { 'experts.gate_up_proj_scales': _, ...noScales } = l.mx;
    expect(convert(noScales)).toEqual(['shape', 'experts.gate_up_proj_scales']);
    // A hidden size that is not whole blocks of 32.
    expect(convert(l.mx, { ...l.config, hidden_size: 48 })).toEqual(['shape', gu]);
  });
});
