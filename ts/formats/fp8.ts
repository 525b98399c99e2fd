// Block-wise FP8 weights, the form DeepSeek-V3 / R1 and Qwen3's "-FP8" checkpoints ship (config.json
// quantization_config { quant_method: "fp8", fmt: "e4m3", weight_block_size: [bm, bn] }): a weight W
// [rows, cols] is stored as f8_e4m3 bytes beside `<name>_scale_inv` [⌈rows / bm⌉, ⌈cols / bn⌉] (f32), and
// W[i][j] = e4m3(byte[i][j]) · scale_inv[i / bm][j / bn] — the multiply DeepSeek's weight_dequant does.
// Leading axes, where a tensor has more than two, index independent matrices (scale_inv has them too).
// compressed-tensors' float-quantized checkpoints scale a matrix by `<name>_scale` instead, one value per
// tensor or per output row: blocks of [rows, cols] or [1, cols] here.
// Here the product is rounded once, to f32 (DeepSeek's kernel rounds it to bf16 afterwards).

import { SwitchyardError, describe } from '../errors.js';
import type { EncodedRun } from './deferred-tensor.js';

/** e4m3 "fn" (OCP FP8): sign, 4 exponent bits (bias 7), 3 mantissa bits; no infinities; S.1111.111 is NaN. */
const E4M3: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const exponent = (b >> 3) & 15;
    const mantissa = b & 7;
    if (exponent === 15 && mantissa === 7) table[b] = NaN;
    else if (exponent === 0) table[b] = sign * mantissa * 2 ** -9;
    else table[b] = sign * (8 + mantissa) * 2 ** (exponent - 10);
  }
  return table;
})();

/** DeepSeek-V3's block size, for a config whose quantization_config does not say. */
const DEFAULT_BLOCK: readonly [number, number] = [128, 128];

/** [bm, bn] from config.json's quantization_config.weight_block_size, or the default. */
export function fp8BlockSize(config: Record<string, unknown>): [number, number] {
  const q = Object.prototype.hasOwnProperty.call(config, 'quantization_config') ? config['quantization_config'] : undefined;
  const size = q !== null && typeof q === 'object' && !Array.isArray(q) ? (q as Record<string, unknown>)['weight_block_size'] : undefined;
  if (size === undefined || size === null) return [...DEFAULT_BLOCK];
  if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new SwitchyardError('config', 'config.quantization_config.weight_block_size', `expected [rows, cols] of positive integers, got ${describe(size)}`);
  }
  return [size[0], size[1]];
}

/** The scale grid of a weight of `shape` ([..., rows, cols]) under blocks of [bm, bn]. */
export function scaleShape(shape: readonly number[], [bm, bn]: readonly [number, number]): number[] {
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  return [...shape.slice(0, -2), Math.ceil(rows / bm), Math.ceil(cols / bn)];
}

/** f32's largest finite value: a block whose |scale| · 448 (e4m3's largest) stays under it cannot overflow. */
const F32_MAX = 3.4028234663852886e38;
const E4M3_MAX = 448;

/**
 * Refuses a block-wise FP8 weight [..., rows, cols] whose values are not all f32 numbers, before any is read:
 * a NaN byte (the first, in element order), then a product past f32 (checked only in blocks whose scale could
 * reach it), reading through `rows`, the reader over the same bytes and their scales (laid out as scaleShape
 * says; the caller has checked both lengths and that the scales are finite).
 */
export function checkBlockFp8(rows: Fp8Rows, bytes: Uint8Array, shape: readonly number[], argument: string): void {
  const i = firstNanByte(bytes);
  if (i >= 0) {
    throw new SwitchyardError('range', argument, `expected f8_e4m3 values, got the NaN byte 0x${bytes[i].toString(16)} at element ${i}`);
  }
  const row = new Float32Array(rows.cols);
  for (let r = 0; r < rows.rows; r++) {
    if (!rows.mayOverflow(r)) continue;
    rows.read(r, row, 0);
    const j = row.findIndex((v) => !Number.isFinite(v));
    if (j >= 0) {
      throw new SwitchyardError('range', argument, `expected finite values [${shape.join(', ')}], received ${row[j]} at element ${r * rows.cols + j}`);
    }
  }
}

/**
 * Index of the first e4m3 NaN byte (0x7f, 0xff), or -1. Four bytes a word: with the sign bits cleared, adding 1
 * to each byte carries into its bit 7 only from 0x7f, and never into the next byte (8–9× faster than a byte at
 * a time here, where the check was a fifth of an FP8 layer's load).
 */
export function firstNanByte(bytes: Uint8Array): number {
  const isNan = (b: number) => (b & 0x7f) === 0x7f;
  const head = (4 - (bytes.byteOffset % 4)) % 4;
  const words = bytes.length < head + 4 ? new Uint32Array(0) : new Uint32Array(bytes.buffer, bytes.byteOffset + head, (bytes.length - head) >> 2);
  let any = 0;
  for (let i = 0; i + 4 <= words.length; i += 4) {
    any |= ((words[i] & 0x7f7f7f7f) + 0x01010101) | ((words[i + 1] & 0x7f7f7f7f) + 0x01010101)
      | ((words[i + 2] & 0x7f7f7f7f) + 0x01010101) | ((words[i + 3] & 0x7f7f7f7f) + 0x01010101);
  }
  for (let i = words.length & ~3; i < words.length; i++) any |= (words[i] & 0x7f7f7f7f) + 0x01010101;
  if ((any & 0x80808080) === 0 && !bytes.subarray(0, head).some(isNan) && !bytes.subarray(head + 4 * words.length).some(isNan)) return -1;
  return bytes.findIndex(isNan);
}

/**
 * Rows of a block-wise FP8 weight [..., rows, cols] (every leading axis folded into rows) dequantised to f32
 * on demand, each e4m3 × its block's scale rounded once to f32; after checkBlockFp8 every value is finite.
 */
export class Fp8Rows {
  /** Rows of all the matrices together, and values per row. */
  readonly rows: number;
  readonly cols: number;
  private readonly matrixRows: number;
  private readonly gridRows: number;
  private readonly gridCols: number;
  private readonly tables: Float32Array[] = [];
  private tablesAt = -1;

  constructor(private readonly bytes: Uint8Array, private readonly scaleInv: Float32Array, shape: readonly number[], private readonly block: readonly [number, number]) {
    this.matrixRows = shape[shape.length - 2];
    this.cols = shape[shape.length - 1];
    this.rows = this.cols === 0 ? 0 : bytes.length / this.cols;
    this.gridRows = Math.ceil(this.matrixRows / block[0]);
    this.gridCols = Math.ceil(this.cols / block[1]);
  }

  /** Row `row`'s values into out[at, at + cols). */
  read(row: number, out: Float32Array, at: number): void {
    const { cols, bytes } = this;
    const bn = this.block[1];
    const tables = this.tablesFor(this.scaleRow(row));
    const from = row * cols;
    for (let g = 0; g < this.gridCols; g++) {
      const table = tables[g];
      const end = Math.min(cols, (g + 1) * bn);
      for (let j = g * bn; j < end; j++) out[at + j] = table[bytes[from + j]];
    }
  }

  /** Row `row`'s bytes and its blocks' scales as they are into run row `runRow` (deferred-tensor.ts EncodedRun). */
  copyRow(row: number, run: EncodedRun, runRow: number): void {
    const { cols, gridCols } = this;
    run.bytes.set(this.bytes.subarray(row * cols, (row + 1) * cols), run.at + runRow * cols);
    const first = this.scaleRow(row);
    run.f32.set(this.scaleInv.subarray(first, first + gridCols), (run.scalesAt >>> 2) + runRow * gridCols);
  }

  /**
   * The products e4m3(b) · scale of every byte b, one table per block of the row of blocks whose first scale
   * is `first` (rounded to f32 when stored, as the product stored into the weights would be): a row's values
   * are then lookups. Kept for the last row of blocks read, which the next rows mostly share.
   */
  private tablesFor(first: number): Float32Array[] {
    if (first !== this.tablesAt) {
      for (let g = 0; g < this.gridCols; g++) {
        const table = (this.tables[g] ??= new Float32Array(256));
        const scale = this.scaleInv[first + g];
        for (let b = 0; b < 256; b++) table[b] = E4M3[b] * scale;
      }
      this.tablesAt = first;
    }
    return this.tables;
  }

  /** Whether a value of row `row` could pass f32's range (a scale of its blocks over F32_MAX / 448). */
  mayOverflow(row: number): boolean {
    const first = this.scaleRow(row);
    for (let g = 0; g < this.gridCols; g++) if (Math.abs(this.scaleInv[first + g]) * E4M3_MAX >= F32_MAX) return true;
    return false;
  }

  /** Index of the first scale of row `row`'s blocks. */
  private scaleRow(row: number): number {
    const m = Math.floor(row / this.matrixRows);
    return (m * this.gridRows + Math.floor((row - m * this.matrixRows) / this.block[0])) * this.gridCols;
  }
}
