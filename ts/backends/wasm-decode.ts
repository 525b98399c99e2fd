// Checkpoint rows decoded to f32 by a WASM backend's module (assembly/ffn/widen.ts), for its own packing
// (wasm-pack.ts) and for a WebGPU block's uploads (wasm-device-weights.ts). A run of rows' bytes is copied to
// the end of the f32 block it decodes into and decoded forward in place: bf16 and f16 as their bits in its
// second half, MXFP4 as their blocks in its last eighth, FP8 as their bytes in its last quarter; scales apart.
// In TypeScript the same decoding took ~2 ns a value, the largest part of such a layer's load.
import type { EncodedRows } from '../formats/deferred-tensor.js';
import { MXFP4_BLOCK } from '../formats/mxfp4.js';
import type { WasmHeap } from './wasm-heap.js';

/** The module's decoders: absent from builds before them (an injected older module), whose rows are then decoded in TypeScript. */
export interface DecodeExports {
  widenBf16?(src: number, n: number, dst: number): void;
  widenF16?(src: number, n: number, dst: number): void;
  widenMxfp4?(blocks: number, scales: number, nBlock: number, dst: number): void;
  widenFp8?(src: number, scales: number, nRow: number, cols: number, blockCols: number, dst: number): void;
}

const DECODER: Record<EncodedRows['encoding'], keyof DecodeExports> = { bf16: 'widenBf16', f16: 'widenF16', mxfp4: 'widenMxfp4', fp8: 'widenFp8' };

/** Whether the module decodes rows of this encoding. */
export function decodes(x: DecodeExports, e: EncodedRows | undefined): e is EncodedRows {
  return e !== undefined && typeof x[DECODER[e.encoding]] === 'function';
}

/** Bytes of `rows` rows of `len` values in their encoding, scales apart. */
export function encodedBytes(e: EncodedRows, rows: number, len: number): number {
  const n = rows * len;
  if (e.encoding === 'mxfp4') return n / 2;
  return e.encoding === 'fp8' ? n : 2 * n;
}

/** Bytes of the scales of a run of up to `rows` encoded rows of `len` values (decodeRows' `scales` block). */
export function runScaleBytes(e: EncodedRows | undefined, rows: number, len: number): number {
  if (e?.encoding === 'mxfp4') return rows * (len / MXFP4_BLOCK);
  if (e?.encoding === 'fp8') return 4 * rows * Math.ceil(len / e.blockCols!);
  return 0;
}

/** Rows [from, from + count) of `len` values decoded to f32 at `at` (count · len · 4 bytes), their scales through `scales`. */
export function decodeRows(heap: WasmHeap, x: DecodeExports, encoded: EncodedRows, from: number, count: number, len: number, at: number, scales: number): void {
  const n = count * len;
  // The bytes end where the f32 block ends: each step of the decoder writes only what it has read.
  const src = at + 4 * n - encodedBytes(encoded, count, len);
  encoded.read(from, from + count, { bytes: heap.u8, f32: heap.f32, at: src, scalesAt: scales }, 0);
  switch (encoded.encoding) {
    case 'bf16': x.widenBf16!(src, n, at); break;
    case 'f16': x.widenF16!(src, n, at); break;
    case 'mxfp4': x.widenMxfp4!(src, scales, n / MXFP4_BLOCK, at); break;
    case 'fp8': x.widenFp8!(src, scales, count, len, encoded.blockCols!, at); break;
  }
}
