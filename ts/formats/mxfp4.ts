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

/** Where a dequantised row goes: values [offset, offset + cols) of `array` (offset even, the array 8-byte aligned). */
export interface RowPlace {
  array: Float32Array;
  offset: number;
}

/**
 * The f32 values [rows, cols] of an MXFP4 matrix (cols a multiple of 32): into a new array, row after row;
 * or, with `place`, each row where it says (GPT-OSS splits its interleaved gate / up rows so, without a
 * second copy of the matrix). The caller has checked the lengths: blocks rows · cols / 2 bytes, scales
 * rows · cols / 32.
 * @throws SwitchyardError 'range' for a NaN scale, or a value past f32's range (a scale ≥ 2^126 on a nonzero value)
 */
export function dequantizeMxfp4(
  blocks: Uint8Array, scales: Uint8Array, rows: number, cols: number, argument: string, place?: (row: number) => RowPlace,
): Float32Array | undefined {
  const out = place ? undefined : new Float32Array(rows * cols);
  const blocksPerRow = cols / MXFP4_BLOCK;
  const nBlock = rows * blocksPerRow;
  // Each byte becomes two f32 values, stored at once as the 8 bytes of one f64 taken from a table of the
  // block's scale (one table of 256 pairs per scale the matrix uses): 2.7× faster here than two lookups
  // and multiplies per byte. The f64 store keeps the bits as they are: only a NaN could be rewritten, and
  // a pair is a NaN only when its second value is an f32 NaN, which e2m1 × 2^k never is.
  const tables: (Float64Array | undefined)[] = [];
  let array: Float32Array | undefined;
  let pairs: Float64Array = new Float64Array(0);
  for (let r = 0; r < rows; r++) {
    const row = out ? { array: out, offset: r * cols } : place!(r);
    if (row.array !== array) {
      array = row.array;
      pairs = new Float64Array(array.buffer, array.byteOffset, array.length >> 1);
    }
    for (let g = 0; g < blocksPerRow; g++) {
      const b = r * blocksPerRow + g;
      const s = scales[b];
      const table = tables[s] ?? (tables[s] = pairTable(s, b, nBlock, argument));
      const from = b * BLOCK_BYTES;
      const to = (row.offset >> 1) + g * BLOCK_BYTES;
      for (let j = 0; j < BLOCK_BYTES; j++) pairs[to + j] = table[blocks[from + j]];
      if (s >= 253) {
        // 6 · 2^126 is past f32's largest value: such a block holds ±∞ unless its values are all small enough.
        for (let i = 2 * to; i < 2 * to + MXFP4_BLOCK; i++) {
          if (!Number.isFinite(array[i])) {
            throw new SwitchyardError('range', argument, `expected values within f32, got ${array[i]} (scale 2^${s - 127}) in block ${b} of ${nBlock}`);
          }
        }
      }
    }
  }
  return out;
}

/** For scale byte s, the f32 pair (low nibble's value, high nibble's) of every byte, as 256 f64. */
function pairTable(s: number, block: number, nBlock: number, argument: string): Float64Array {
  if (s === SCALE_NAN) {
    throw new SwitchyardError('range', argument, `expected e8m0 scales below 255 (255 is NaN), got 255 for block ${block} of ${nBlock}`);
  }
  const table = new Float64Array(256);
  const values = new Float32Array(table.buffer);
  const scale = 2 ** (s - 127);
  for (let byte = 0; byte < 256; byte++) {
    values[2 * byte] = E2M1[byte & 15] * scale;
    values[2 * byte + 1] = E2M1[byte >> 4] * scale;
  }
  return table;
}
