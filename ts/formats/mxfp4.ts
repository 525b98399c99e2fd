// MXFP4 (OCP Microscaling, the format GPT-OSS checkpoints store their experts in): blocks of 32 values, each
// a 4-bit e2m1 float, sharing one e8m0 scale 2^(s − 127). A checkpoint holds a matrix [rows, cols] as
//   blocks [rows, cols / 32, 16] u8: byte j of a block holds value 2j in its low nibble, 2j + 1 in its high one;
//   scales [rows, cols / 32] u8.
// Every value is a small multiple of a power of two, so f32 holds it exactly (the bf16 transformers
// dequantises to holds the same values): dequantising loses nothing.

import { SwitchyardError } from '../errors.js';
import type { EncodedRun } from './deferred-tensor.js';

/** Values per block, and bytes per block of values. */
export const MXFP4_BLOCK = 32;
const BLOCK_BYTES = MXFP4_BLOCK / 2;

/** e2m1: sign, 2 exponent bits, 1 mantissa bit (no infinities, no NaN). */
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** e8m0 255 is NaN (OCP MX v1.0 §5.4); every other byte is 2^(s − 127). */
const SCALE_NAN = 255;

/**
 * Refuses an MXFP4 matrix whose values are not all f32 numbers, before any is read: a scale of 255 (NaN), or a
 * block whose scale (≥ 2^126) takes one of its values past f32's range. After it every read is finite.
 * @param scales [rows · cols / 32]; blocks [rows · cols / 2] (lengths checked by the caller)
 */
export function checkMxfp4(blocks: Uint8Array, scales: Uint8Array, argument: string): void {
  const nBlock = scales.length;
  for (let b = 0; b < nBlock; b++) {
    const s = scales[b];
    if (s < 253) continue;
    // 6 · 2^126 is past f32's largest value: such a block holds ±∞ unless its values are all small enough.
    const pair = new Float32Array(pairTable(s, b, nBlock, argument).buffer);
    for (let j = 0; j < BLOCK_BYTES; j++) {
      const byte = blocks[b * BLOCK_BYTES + j];
      for (const v of [pair[2 * byte], pair[2 * byte + 1]]) {
        if (!Number.isFinite(v)) {
          throw new SwitchyardError('range', argument, `expected values within f32, got ${v} (scale 2^${s - 127}) in block ${b} of ${nBlock}`);
        }
      }
    }
  }
}

/**
 * Rows of an MXFP4 matrix [rows, cols] (cols a multiple of 32) dequantised to f32 on demand, after
 * checkMxfp4. Each byte's two values are stored at once as the 8 bytes of one f64 taken from a table of the
 * block's scale (one table of 256 pairs per scale the matrix uses): 2.7× faster here than two lookups and
 * multiplies per byte. The f64 store keeps the bits as they are: only a NaN could be rewritten, and a pair is
 * a NaN only when its second value is an f32 NaN, which e2m1 × 2^k never is.
 */
export class Mxfp4Rows {
  private readonly tables: (Float64Array | undefined)[] = [];
  private readonly blocksPerRow: number;
  private array: Float32Array | undefined;
  private pairs: Float64Array = new Float64Array(0);

  constructor(private readonly blocks: Uint8Array, private readonly scales: Uint8Array, readonly cols: number, private readonly argument: string) {
    this.blocksPerRow = cols / MXFP4_BLOCK;
  }

  /** Row `row`'s values into out[at, at + cols). */
  read(row: number, out: Float32Array, at: number): void {
    if ((out.byteOffset + 4 * at) % 8 !== 0) {
      this.readUnaligned(row, out, at);
      return;
    }
    if (out !== this.array) {
      this.array = out;
      this.pairs = new Float64Array(out.buffer, out.byteOffset, out.length >> 1);
    }
    const pairs = this.pairs;
    const first = row * this.blocksPerRow;
    for (let g = 0; g < this.blocksPerRow; g++) {
      const table = this.table(first + g);
      const from = (first + g) * BLOCK_BYTES;
      const to = (at >> 1) + g * BLOCK_BYTES;
      for (let j = 0; j < BLOCK_BYTES; j++) pairs[to + j] = table[this.blocks[from + j]];
    }
  }

  /** Row `row`'s bytes as they are into run row `runRow` (deferred-tensor.ts EncodedRun): blocks, then scales apart. */
  copyRow(row: number, run: EncodedRun, runRow: number): void {
    const n = this.blocksPerRow;
    run.bytes.set(this.blocks.subarray(row * n * BLOCK_BYTES, (row + 1) * n * BLOCK_BYTES), run.at + runRow * n * BLOCK_BYTES);
    run.bytes.set(this.scales.subarray(row * n, (row + 1) * n), run.scalesAt + runRow * n);
  }

  /** read() for an odd f32 position (no f64 view reaches it): value by value. */
  private readUnaligned(row: number, out: Float32Array, at: number): void {
    const first = row * this.blocksPerRow;
    for (let g = 0; g < this.blocksPerRow; g++) {
      const pair = new Float32Array(this.table(first + g).buffer);
      const from = (first + g) * BLOCK_BYTES;
      for (let j = 0; j < BLOCK_BYTES; j++) {
        const byte = this.blocks[from + j];
        out[at + g * MXFP4_BLOCK + 2 * j] = pair[2 * byte];
        out[at + g * MXFP4_BLOCK + 2 * j + 1] = pair[2 * byte + 1];
      }
    }
  }

  private table(block: number): Float64Array {
    const s = this.scales[block];
    return this.tables[s] ?? (this.tables[s] = pairTable(s, block, this.scales.length, this.argument));
  }
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
