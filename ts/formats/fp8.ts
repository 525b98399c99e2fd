// Block-wise FP8 weights, the form DeepSeek-V3 / R1 and Qwen3's "-FP8" checkpoints ship (config.json
// quantization_config { quant_method: "fp8", fmt: "e4m3", weight_block_size: [bm, bn] }): a weight W
// [rows, cols] is stored as f8_e4m3 bytes beside `<name>_scale_inv` [⌈rows / bm⌉, ⌈cols / bn⌉] (f32), and
// W[i][j] = e4m3(byte[i][j]) · scale_inv[i / bm][j / bn] — the multiply DeepSeek's weight_dequant does.
// Leading axes, where a tensor has more than two, index independent matrices (scale_inv has them too).
// compressed-tensors' float-quantized checkpoints scale a matrix by `<name>_scale` instead, one value per
// tensor or per output row: blocks of [rows, cols] or [1, cols] here.
// Here the product is rounded once, to f32 (DeepSeek's kernel rounds it to bf16 afterwards).

import { SwitchyardError, describe } from '../errors.js';

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

/**
 * The f32 values of a block-wise FP8 weight [..., rows, cols] (bytes row-major), scaleInv laid out as
 * scaleShape says. The caller has checked both lengths.
 * @throws SwitchyardError 'range' for an e4m3 NaN byte
 */
export function dequantizeBlockFp8(
  bytes: Uint8Array, scaleInv: Float32Array, shape: readonly number[], block: readonly [number, number], argument: string,
): Float32Array {
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const [bm, bn] = block;
  const gridRows = Math.ceil(rows / bm);
  const gridCols = Math.ceil(cols / bn);
  const out = new Float32Array(bytes.length);
  const matrices = rows * cols === 0 ? 0 : bytes.length / (rows * cols);
  for (let m = 0; m < matrices; m++) {
    for (let i = 0; i < rows; i++) {
      const at = (m * rows + i) * cols;
      const scales = ((m * gridRows) + Math.floor(i / bm)) * gridCols;
      for (let j = 0; j < cols; j++) {
        const v = E4M3[bytes[at + j]];
        if (v !== v) {
          throw new SwitchyardError('range', argument, `expected f8_e4m3 values, got the NaN byte 0x${bytes[at + j].toString(16)} at element ${at + j}`);
        }
        out[at + j] = v * scaleInv[scales + Math.floor(j / bn)];
      }
    }
  }
  return out;
}
