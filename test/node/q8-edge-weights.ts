// Test helper: int8 blocks whose rounding a quantiser could get wrong by computing w / scale as w · (1 / scale).
import { rng } from '../cases/rng.js';
import { decodeF16 } from '../../ts/formats/dtype.js';

/**
 * Blocks of 32 whose scale is a random f16 value (mostly not a power of two: 1/scale is inexact) and whose
 * weights are j/2 · scale, j = ±(0 … 254): integers and exact ties of w / scale, the cases a rounding by
 * reciprocal could get wrong. The block's largest |w| is 127 · scale, so the scale it gets is this one
 * (when 127 · scale / 127 rounds back to it: the f16 value is exact in f32 and the division by 127 exact).
 */
export function multiplesOfScales(seed: number, nRow: number, len: number): Float32Array {
  const next = rng(seed);
  const a = new Float32Array(nRow * len);
  for (let b = 0; b < a.length / 32; b++) {
    const scale = decodeF16(0x0400 + Math.floor(next() * 0x7000)); // normal f16 from 2^-14 up to ~2^14
    for (let i = 0; i < 32; i++) a[b * 32 + i] = (i === 0 ? 127 : Math.floor(next() * 509 - 254) / 2) * scale;
  }
  return a;
}
