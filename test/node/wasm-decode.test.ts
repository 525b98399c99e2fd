// Checkpoint rows decoded by the module for a WebGPU block's uploads (DeviceWeightWriter.decode of
// ts/backends/wasm-device-weights.ts, over wasm-decode.ts) against the TypeScript readers the upload uses
// otherwise (formats/dtype.ts halfReader, mxfp4.ts Mxfp4Rows, fp8.ts Fp8Rows): bit for bit, for runs that
// start past row 0, runs of one row, and runs over several of the writer's 2^20-value chunks. (The decoders
// themselves are checked value by value in wasm-widen.test.ts; wasm's own packing in bf16-load, mxfp4 and
// fp8.test.ts.)
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng } from '../cases/rng.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import { WasmHeap } from '../../ts/backends/wasm-heap.js';
import { wasmWeightWriter } from '../../ts/backends/wasm-device-weights.js';
import type { DecodeExports } from '../../ts/backends/wasm-decode.js';
import type { RowConvertExports } from '../../ts/backends/wasm-device-weights.js';
import type { EncodedRows, RowReader } from '../../ts/formats/deferred-tensor.js';
import { halfReader } from '../../ts/formats/dtype.js';
import { Mxfp4Rows } from '../../ts/formats/mxfp4.js';
import { Fp8Rows } from '../../ts/formats/fp8.js';

async function writer(file: string) {
  const { instance } = await WebAssembly.instantiate(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)), {});
  const x = instance.exports as unknown as RowConvertExports & DecodeExports & { memory: WebAssembly.Memory; heapBase(): number };
  return wasmWeightWriter(new WasmHeap(x.memory, x.heapBase()), x)!;
}

interface Projection { encoded: EncodedRows; read: RowReader }

/** A projection [rows, len] in each encoding, its bytes random (finite values only), with its TypeScript reader. */
function projections(seed: number, rows: number, len: number): Record<EncodedRows['encoding'], Projection> {
  const next = rng(seed);
  const halves = (exponentMask: number) => Uint16Array.from({ length: rows * len }, () => {
    const h = Math.floor(next() * 0x10000);
    return (h & exponentMask) === exponentMask ? h ^ exponentMask : h; // no ±∞ / NaN
  });
  const half = (dtype: 'bf16' | 'f16', bits: Uint16Array): Projection => ({
    encoded: {
      encoding: dtype,
      read: (r0, r1, run, row0) => run.bytes.set(new Uint8Array(bits.buffer, 2 * r0 * len, 2 * (r1 - r0) * len), run.at + 2 * row0 * len),
    },
    read: halfReader(dtype, bits, len),
  });
  const blocks = Uint8Array.from({ length: (rows * len) / 2 }, () => Math.floor(next() * 256));
  const mxScales = Uint8Array.from({ length: (rows * len) / 32 }, () => 100 + Math.floor(next() * 50));
  const mx = new Mxfp4Rows(blocks, mxScales, len, 'mx');
  const fp8Bytes = Uint8Array.from({ length: rows * len }, () => Math.floor(next() * 256) & 0xfe); // never 0x7f / 0xff
  const block: [number, number] = [128, 128];
  const fp8Scales = Float32Array.from({ length: Math.ceil(rows / 128) * Math.ceil(len / 128) }, () => (next() - 0.5) * 2 ** (-12 + 8 * next()));
  const fp8 = new Fp8Rows(fp8Bytes, fp8Scales, [rows, len], block);
  const byRow = (read: (row: number, out: Float32Array, at: number) => void): RowReader => (r0, r1, out, at) => {
    for (let r = r0; r < r1; r++) read(r, out, at + (r - r0) * len);
  };
  return {
    bf16: half('bf16', halves(0x7f80)),
    f16: half('f16', halves(0x7c00)),
    mxfp4: {
      encoded: { encoding: 'mxfp4', read: (r0, r1, run, row0) => { for (let r = r0; r < r1; r++) mx.copyRow(r, run, row0 + r - r0); } },
      read: byRow((r, out, at) => mx.read(r, out, at)),
    },
    fp8: {
      encoded: { encoding: 'fp8', blockCols: block[1], read: (r0, r1, run, row0) => { for (let r = r0; r < r1; r++) fp8.copyRow(r, run, row0 + r - r0); } },
      read: byRow((r, out, at) => fp8.read(r, out, at)),
    },
  };
}

describe.each(buildsUnderTest().map((name) => [name, BUILD_FILES[name]]))('checkpoint rows decoded for WebGPU uploads (%s)', (_name, file) => {
  it.each([[6, 160, 1, 5], [300, 2880, 0, 300], [500, 2880, 37, 500], [5, 64, 4, 5]])('rows %i × %i, run [%i, %i): bit for bit as the TypeScript readers', async (rows, len, r0, r1) => {
    const w = await writer(file);
    for (const [encoding, p] of Object.entries(projections(rows * len + r0, rows, len))) {
      const want = new Float32Array((r1 - r0) * len);
      p.read(r0, r1, want, 0);
      const got = new Float32Array(want.length).fill(NaN);
      expect(w.decode!(p.encoded, r0, r1, len, got), encoding).toBe(true);
      const gotBits = new Uint32Array(got.buffer);
      const wantBits = new Uint32Array(want.buffer);
      let i = 0;
      while (i < wantBits.length && gotBits[i] === wantBits[i]) i++;
      expect({ encoding, at: i, got: gotBits[i] }).toEqual({ encoding, at: i, got: wantBits[i] });
    }
  });

  it('declines an encoding its module has no decoder for (an older build): the caller reads the rows itself', async () => {
    const { instance } = await WebAssembly.instantiate(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)), {});
    const x = instance.exports as unknown as RowConvertExports & DecodeExports & { memory: WebAssembly.Memory; heapBase(): number };
    const older = wasmWeightWriter(new WasmHeap(x.memory, x.heapBase()), { convertF16Values: x.convertF16Values, quantizeQ8Pairs: x.quantizeQ8Pairs })!;
    const p = projections(1, 4, 64).bf16;
    expect(older.decode!(p.encoded, 0, 4, 64, new Float32Array(256))).toBe(false);
  });
});
