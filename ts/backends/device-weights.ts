// How expert weights become the WebGPU path's storage types when a block is bound: f16 bits, or int8 rows
// cut into block pairs (webgpu-q8.ts). The TypeScript writers here always work; a WASM backend offers the
// same bits several times faster (wasm-device-weights.ts), and a GPU block bound beside one uses its writer.
import { f32ToF16 } from '../formats/dtype.js';
import { packQ8Rows } from './webgpu-q8.js';

export interface DeviceWeightWriter {
  /** Finite f32 → binary16 bits, round to nearest even (the caller has refused values past f16). */
  f16(a: Float32Array): Uint16Array;
  /** a [nRow, len] finite f32 → the int8 row layout of webgpu-q8.ts (the caller has checked the range). */
  q8Rows(a: Float32Array, nRow: number, len: number): Uint32Array;
}

export const typescriptWeightWriter: DeviceWeightWriter = { f16: f32ToF16, q8Rows: packQ8Rows };
