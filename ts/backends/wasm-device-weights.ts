// The WebGPU path's weight conversions run in this backend's module (assembly/ffn/convert-rows.ts), and so do
// the decoding of the checkpoint rows it uploads (wasm-decode.ts): the weights pass through a scratch block in
// chunks, so a layer of any size needs only a few MB of module memory besides the result. Bit-identical to
// the TypeScript writers (device-weights.ts) and readers. The module returns the largest |w| it converted, so
// the range check costs no pass of its own; only a failing one re-reads the weights to name the first culprit.
import type { DeviceWeightWriter } from './device-weights.js';
import { checkF16Range, encodeF16, F16_MAX } from '../formats/dtype.js';
import { checkQ8Range, Q8_MAX_WEIGHT } from '../formats/q8.js';
import { SwitchyardError } from '../errors.js';
import { Q8_PAIR, Q8_PAIR_WORDS } from '../kernels/grouped-gemm.js';
import type { WasmHeap } from './wasm-heap.js';
import { decodeRows, decodes, runScaleBytes, type DecodeExports } from './wasm-decode.js';

export interface RowConvertExports {
  convertF16Values(src: number, n: number, dst: number): number;
  quantizeQ8Pairs(src: number, nPair: number, dst: number): number;
}

/** f32 values per chunk: 4 MB in, small enough to stay in a cache level or two on the way back out. */
const CHUNK = 1 << 20;

/** A writer over the module, or undefined for a module without the exports (an older build passed in). */
export function wasmWeightWriter(heap: WasmHeap, exports: Partial<RowConvertExports> & DecodeExports): DeviceWeightWriter | undefined {
  const { convertF16Values, quantizeQ8Pairs } = exports;
  if (typeof convertF16Values !== 'function' || typeof quantizeQ8Pairs !== 'function') return undefined;
  return {
    f16(a, argument) {
      const out = new Uint16Array(a.length);
      let amax = 0;
      // The module converts eight at a time; the last few go through the TypeScript encoder.
      const whole = a.length - (a.length % 8);
      if (whole > 0) {
        withBlocks(heap, Math.min(CHUNK, whole) * 4, Math.min(CHUNK, whole) * 2, (src, dst) => {
          for (let i = 0; i < whole; i += CHUNK) {
            const n = Math.min(CHUNK, whole - i);
            heap.f32.set(a.subarray(i, i + n), src >>> 2);
            amax = Math.max(amax, convertF16Values(src, n, dst));
            out.set(heap.u16.subarray(dst >>> 1, (dst >>> 1) + n), i);
          }
        });
      }
      for (let i = whole; i < a.length; i++) {
        amax = Math.max(amax, Math.abs(a[i]));
        out[i] = encodeF16(a[i]);
      }
      if (amax > F16_MAX) refuse(checkF16Range, a, argument, F16_MAX, amax);
      return out;
    },
    q8Rows(a, nRow, len, argument) {
      const nPair = Math.ceil(len / Q8_PAIR);
      const padded = nPair * Q8_PAIR;
      const rowWords = nPair * Q8_PAIR_WORDS;
      const out = new Uint32Array(nRow * rowWords);
      if (out.length === 0) return out;
      const outI32 = new Int32Array(out.buffer);
      let amax = 0;
      const rowsPerChunk = Math.min(nRow, Math.max(1, Math.floor(CHUNK / padded)));
      withBlocks(heap, rowsPerChunk * padded * 4, rowsPerChunk * rowWords * 4, (src, dst) => {
        for (let r = 0; r < nRow; r += rowsPerChunk) {
          const rows = Math.min(rowsPerChunk, nRow - r);
          const f32 = heap.f32;
          if (padded === len) {
            f32.set(a.subarray(r * len, (r + rows) * len), src >>> 2);
          } else {
            // Each row padded with zeros to whole pairs: the padding quantizes to 0 and leaves amax alone.
            for (let i = 0; i < rows; i++) {
              const at = (src >>> 2) + i * padded;
              f32.set(a.subarray((r + i) * len, (r + i + 1) * len), at);
              f32.fill(0, at + len, at + padded);
            }
          }
          amax = Math.max(amax, quantizeQ8Pairs(src, rows * nPair, dst));
          outI32.set(heap.i32.subarray(dst >>> 2, (dst >>> 2) + rows * rowWords), r * rowWords);
        }
      });
      if (amax > Q8_MAX_WEIGHT) refuse(checkQ8Range, a, argument, Q8_MAX_WEIGHT, amax);
      return out;
    },
    decode(encoded, r0, r1, len, out) {
      if (!decodes(exports, encoded)) return false;
      const nRow = r1 - r0;
      if (nRow <= 0 || len === 0) return true;
      const rowsPerChunk = Math.min(nRow, Math.max(1, Math.floor(CHUNK / len)));
      withBlocks(heap, rowsPerChunk * len * 4, Math.max(16, runScaleBytes(encoded, rowsPerChunk, len)), (rows, scales) => {
        for (let r = r0; r < r1; r += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, r1 - r);
          decodeRows(heap, exports, encoded, r, count, len, rows, scales);
          out.set(heap.f32.subarray(rows >>> 2, (rows >>> 2) + count * len), (r - r0) * len);
        }
      });
      return true;
    },
  };
}

/** Throws the weights' own range error (which names the first culprit's element). */
function refuse(check: (a: Float32Array, argument: string) => void, a: Float32Array, argument: string, limit: number, amax: number): never {
  check(a, argument);
  throw new SwitchyardError('range', argument, `expected |weight| ≤ ${limit}, received ${amax}`);
}

/** Runs `use` with two blocks of the heap, released after it (also when it throws). */
function withBlocks(heap: WasmHeap, srcBytes: number, dstBytes: number, use: (src: number, dst: number) => void): void {
  const src = heap.alloc(srcBytes);
  try {
    const dst = heap.alloc(dstBytes);
    try {
      use(src, dst);
    } finally {
      heap.release(dst);
    }
  } finally {
    heap.release(src);
  }
}
