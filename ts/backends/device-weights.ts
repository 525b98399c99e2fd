// How expert weights become the WebGPU path's storage types when a block is bound: f16 bits, or int8 rows
// cut into block pairs (webgpu-q8.ts). The TypeScript writers here always work; a WASM backend offers the
// same bits several times faster (wasm-device-weights.ts), and a GPU block bound beside one uses its writer.
import { checkF16Range, f32ToF16 } from '../formats/dtype.js';
import { checkQ8Range } from '../formats/q8.js';
import { packQ8Rows } from './webgpu-q8.js';
import type { EncodedRows } from '../formats/deferred-tensor.js';

/** Both conversions refuse a weight past the format's range as SwitchyardError('range') naming `argument`. */
export interface DeviceWeightWriter {
  /** Finite f32 → binary16 bits, round to nearest even. */
  f16(a: Float32Array, argument: string): Uint16Array;
  /** a [nRow, len] finite f32 → the int8 row layout of webgpu-q8.ts. */
  q8Rows(a: Float32Array, nRow: number, len: number, argument: string): Uint32Array;
  /**
   * Rows [r0, r1) of `len` values of a checkpoint projection decoded from their bytes into out[0 ..], where
   * this writer has a decoder for their encoding (true), else nothing (false: the caller reads them itself).
   */
  decode?(encoded: EncodedRows, r0: number, r1: number, len: number, out: Float32Array): boolean;
}

export const typescriptWeightWriter: DeviceWeightWriter = {
  f16(a, argument) {
    checkF16Range(a, argument);
    return f32ToF16(a);
  },
  q8Rows(a, nRow, len, argument) {
    checkQ8Range(a, argument);
    return packQ8Rows(a, nRow, len);
  },
};
