// Block-wise symmetric int8, the one rule both the WASM and the WebGPU paths quantize expert weights by:
// Q8_BLOCK = 32 consecutive weights of one output column along the reduction share a scale
// s = amax / 127 computed in f32 then rounded to f16 (the format's f16 scale; kernels keep it as f32),
// q = w / s rounded to the nearest integer, ties away from zero (so −w gives −q), clamped to ±127;
// w ≈ q · s. An all-zero block has s = 0 and q = 0. The same rule on both paths gives both the
// same dequantized weights, so they differ only in how they sum.
import { SwitchyardError } from '../errors.js';
import { decodeF16, encodeF16 } from './dtype.js';

/** Weights per int8 block; must match Q8_BLOCK of assembly/ffn/weights.ts. */
export const Q8_BLOCK = 32;

/** The largest |w| whose block scale, amax / 127 in f16, stays finite: 127 · 65504. */
export const Q8_MAX_WEIGHT = 127 * 65504;

/** Refuses weights whose block scale would overflow f16 (∞, then NaN sums), on either path alike. */
export function checkQ8Range(a: Float32Array, argument: string): void {
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]) > Q8_MAX_WEIGHT) {
      throw new SwitchyardError('range', argument, `expected |weight| ≤ ${Q8_MAX_WEIGHT} for int8 weights (their f16 block scale), received ${a[i]}`);
    }
  }
}

/** The scale of a block whose largest |w| is `amax`. */
export function q8Scale(amax: number): number {
  return decodeF16(encodeF16(Math.fround(amax / 127)));
}

/** w quantized by its block's scale (0 for an all-zero block). */
export function q8Value(w: number, scale: number): number {
  if (scale === 0) return 0;
  const v = w / scale;
  const q = v < 0 ? -Math.round(-v) : Math.round(v);
  return Math.max(-127, Math.min(127, q));
}
