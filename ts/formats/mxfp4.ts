// MXFP4 (OCP Microscaling, the format GPT-OSS checkpoints store their experts in): blocks of 32 values, each
// a 4-bit e2m1 float, sharing one e8m0 scale 2^(s − 127). A checkpoint holds a matrix [rows, cols] as
//   blocks [rows, cols / 32, 16] u8: byte j of a block holds value 2j in its low nibble, 2j + 1 in its high one;
//   scales [rows, cols / 32] u8.
// Every value is a small multiple of a power of two, so f32 holds it exactly (the bf16 transformers
// dequantises to holds the same values): dequantising loses nothing.

import { SwitchyardError } from '../errors.js';

/** Values per block, and bytes per block of values. */
export const MXFP4_BLOCK = 32;
const BLOCK_BYTES = MXFP4_BLOCK / 2;

/** e2m1: sign, 2 exponent bits, 1 mantissa bit (no infinities, no NaN). */
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** e8m0 255 is NaN (OCP MX v1.0 §5.4); every other byte is 2^(s − 127). */
const SCALE_NAN = 255;

/**
 * The f32 values [rows, cols] of an MXFP4 matrix (cols a multiple of 32). The caller has checked the
 * lengths: blocks rows · cols / 2 bytes, scales rows · cols / 32.
 * @throws SwitchyardError 'range' for a NaN scale, or a value past f32's range (a scale ≥ 2^126 on a nonzero value)
 */
export function dequantizeMxfp4(blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number, argument: string): Float32Array {
  const out = new Float32Array(rows * cols);
  const nBlock = rows * (cols / MXFP4_BLOCK);
  for (let b = 0; b < nBlock; b++) {
    const s = scales[b];
    if (s === SCALE_NAN) {
      throw new SwitchyardError('range', argument, `expected e8m0 scales below 255 (255 is NaN), got 255 for block ${b} of ${nBlock}`);
    }
    const scale = 2 ** (s - 127);
    const src = b * BLOCK_BYTES;
    const dst = b * MXFP4_BLOCK;
    for (let j = 0; j < BLOCK_BYTES; j++) {
      const byte = blocks[src + j];
      out[dst + 2 * j] = E2M1[byte & 15] * scale;
      out[dst + 2 * j + 1] = E2M1[byte >> 4] * scale;
    }
    if (s >= 253) {
      // 6 · 2^126 is past f32's largest value: such a block holds ±∞ unless its values are all small enough.
      for (let i = dst; i < dst + MXFP4_BLOCK; i++) {
        if (!Number.isFinite(out[i])) {
          throw new SwitchyardError('range', argument, `expected values within f32, got ${out[i]} (scale 2^${s - 127}) in block ${b} of ${nBlock}`);
        }
      }
    }
  }
  return out;
}
