// The NaN / ±∞ scan every input goes through (ts/spec/check.ts firstNonFinite: an OR of bit patterns, four
// values a step) against the obvious per-value Number.isFinite search, on every kind of f32 bit pattern and
// every tail length; and which tensors fromHuggingFace marks as already checked (markFinite): only arrays
// it made, never the caller's own memory.
import { describe, expect, it } from 'vitest';
import { firstNonFinite, isKnownFinite } from '../../ts/spec/check.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import { decodeBf16, decodeF16, f32ToBf16, firstNonFiniteHalf } from '../../ts/formats/dtype.js';
import { rng } from '../cases/rng.js';

const oracle = (a: Float32Array): number => a.findIndex((v) => !Number.isFinite(v));

/** Bit patterns at the edges: ±0, subnormals, the largest finite, ±∞, quiet and signalling NaNs of both signs. */
const FINITE_BITS = [0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000];
const NON_FINITE_BITS = [0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xffbfffff, 0x7fffffff, 0xffffffff];

describe('firstNonFinite', () => {
  it('finds the first NaN or ±∞ as Number.isFinite does, at every position and length', () => {
    const next = rng(31);
    for (let n = 0; n <= 13; n++) {
      for (let trial = 0; trial < 40; trial++) {
        const a = new Float32Array(n + 3).subarray(1, n + 1); // an offset view, as callers pass
        const bits = new Uint32Array(a.buffer, a.byteOffset, n);
        for (let i = 0; i < n; i++) bits[i] = FINITE_BITS[Math.floor(next() * FINITE_BITS.length)];
        const planted = Math.floor(next() * 3);
        for (let p = 0; p < planted && n > 0; p++) bits[Math.floor(next() * n)] = NON_FINITE_BITS[Math.floor(next() * NON_FINITE_BITS.length)];
        expect(firstNonFinite(a), `n ${n} bits ${Array.from(bits, (b) => b.toString(16))}`).toBe(oracle(a));
      }
    }
  });

  it('scans shared memory and large arrays', () => {
    const a = new Float32Array(new SharedArrayBuffer(4 * 100_003));
    a.fill(3.4e38);
    expect(firstNonFinite(a)).toBe(-1);
    a[100_002] = -Infinity;
    expect(firstNonFinite(a)).toBe(100_002);
    a[77_777] = NaN;
    expect(firstNonFinite(a)).toBe(77_777);
  });
});

describe('firstNonFiniteHalf', () => {
  it('finds the first ±∞ or NaN bits of bf16 and f16 arrays as decoding each would, at every position, length and alignment', () => {
    const next = rng(37);
    for (const dtype of ['bf16', 'f16'] as const) {
      const decode = dtype === 'bf16' ? decodeBf16 : decodeF16;
      // Finite edges (largest, smallest, zeros) and the non-finite patterns of each format.
      const finite = dtype === 'bf16' ? [0x0000, 0x8000, 0x7f7f, 0xff7f, 0x0001, 0x3f80] : [0x0000, 0x8000, 0x7bff, 0xfbff, 0x0001, 0x3c00];
      const bad = dtype === 'bf16' ? [0x7f80, 0xff80, 0x7fc0, 0xffff, 0x7f81] : [0x7c00, 0xfc00, 0x7e00, 0xffff, 0x7c01];
      for (let n = 0; n <= 19; n++) {
        for (let trial = 0; trial < 30; trial++) {
          const skew = trial % 2; // odd trials start 2 bytes into a word
          const bits = new Uint16Array(n + 2).subarray(skew, skew + n);
          for (let i = 0; i < n; i++) bits[i] = finite[Math.floor(next() * finite.length)];
          for (let p = Math.floor(next() * 3); p > 0 && n > 0; p--) bits[Math.floor(next() * n)] = bad[Math.floor(next() * bad.length)];
          const want = Array.from(bits).findIndex((h) => !Number.isFinite(decode(h)));
          expect(firstNonFiniteHalf(dtype, bits), `${dtype} n ${n} skew ${skew} ${Array.from(bits, (b) => b.toString(16))}`).toBe(want);
        }
      }
    }
  });
});

describe('fromHuggingFace marks only the arrays it made as checked', () => {
  const [E, d, f] = [4, 8, 6];
  const next = rng(5);
  const values = (n: number) => Float32Array.from({ length: n }, () => next() - 0.5);
  const config = { model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 };
  const fused = values(E * 2 * f * d);
  const down = values(E * d * f);
  const router = values(E * d);

  it('f32 tensors, the caller’s memory, are checked again by createMoE; the stacks made from them are marked', () => {
    const { weights } = huggingFaceToCanonical({
      config, tensors: { 'gate.weight': router, 'experts.gate_up_proj': { dtype: 'f32', shape: [E, 2 * f, d], data: fused }, 'experts.down_proj': down },
    });
    expect(isKnownFinite(weights['router.weight'] as Float32Array)).toBe(false);
    expect(weights['experts.down']).toBe(down);
    expect(isKnownFinite(down)).toBe(false);
    // gate and up are copies split from the fused tensor.
    expect(isKnownFinite(weights['experts.gate'] as Float32Array)).toBe(true);
    expect(isKnownFinite(weights['experts.up'] as Float32Array)).toBe(true);
    expect(isKnownFinite(fused)).toBe(false);
  });

  it('bf16 tensors: converted into new arrays, marked; expert projections deferred (checked, read by rows)', () => {
    const bf16 = (a: Float32Array, shape: number[]) => ({ dtype: 'bf16' as const, shape, data: f32ToBf16(a) });
    const { weights } = huggingFaceToCanonical({
      config, tensors: { 'gate.weight': bf16(router, [E, d]), 'experts.gate_up_proj': bf16(fused, [E, 2 * f, d]), 'experts.down_proj': bf16(down, [E, d, f]) },
    });
    expect(isKnownFinite(weights['router.weight'] as Float32Array)).toBe(true);
    for (const name of ['experts.gate', 'experts.up', 'experts.down']) expect(weights[name], name).toBeInstanceOf(DeferredTensor);
  });
});

describe('an f32 overflow inside a block', () => {
  it("names hidden and says how large it was, so that huge weights are not mistaken for a huge input", async () => {
    const { createMoE } = await import('../../ts/entry/node.js');
    const [E, d, f] = [2, 4, 3];
    const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 1 }, expert: { dFF: f, activation: 'relu' as const } };
    const weights = (scale: number) => ({
      'router.weight': new Float32Array(E * d).fill(0.1), 'experts.up': new Float32Array(E * f * d).fill(scale), 'experts.down': new Float32Array(E * d * f).fill(scale),
    });
    for (const backend of ['reference', 'wasm'] as const) {
      const moe = await createMoE(config, weights(1e20), { backend });
      const error = await moe.forward(new Float32Array(d).fill(0.25), { tokens: 1 }).catch((e: unknown) => e);
      expect(error, backend).toMatchObject({ code: 'range', argument: 'hidden' });
      expect((error as Error).message).toContain('the largest |hidden| is 0.25');
      moe.destroy();
    }
  });
});
