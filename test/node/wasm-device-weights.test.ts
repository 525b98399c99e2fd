// The module's writers of the WebGPU weight layouts (assembly/ffn/convert-rows.ts behind
// ts/backends/wasm-device-weights.ts) against the TypeScript writers (device-weights.ts: packQ8Rows of
// webgpu-q8.ts, f32ToF16 of dtype.ts): equal bit for bit, and the same range errors — rows that fill whole block pairs and rows padded
// to them, layers larger than one chunk, a row longer than a chunk, all-zero blocks, blocks whose f16 scale
// underflows to 0, exact ties of the int8 rounding of both signs, f16 ties, subnormals and the overflow edge.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng } from '../cases/rng.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import { WasmHeap } from '../../ts/backends/wasm-heap.js';
import { wasmWeightWriter, type RowConvertExports } from '../../ts/backends/wasm-device-weights.js';
import { typescriptWeightWriter } from '../../ts/backends/device-weights.js';
import { createWasmBackend } from '../../ts/backends/wasm.js';
import { Q8_MAX_WEIGHT } from '../../ts/formats/q8.js';
import { multiplesOfScales } from './q8-edge-weights.js';

async function instance(file: string): Promise<{ heap: WasmHeap; exports: RowConvertExports; module: WebAssembly.Module }> {
  const module = await WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));
  const { exports } = await WebAssembly.instantiate(module, {});
  const x = exports as unknown as RowConvertExports & { memory: WebAssembly.Memory; heapBase(): number };
  return { heap: new WasmHeap(x.memory, x.heapBase()), exports: x, module };
}

/** Random weights [nRow, len] over many magnitudes, with the int8 and f16 edge cases planted. */
function rows(seed: number, nRow: number, len: number): Float32Array {
  const next = rng(seed);
  const a = Float32Array.from({ length: nRow * len }, () => (next() - 0.5) * 2 ** (-12 + 14 * next()));
  if (len >= 96) {
    // Row 0: block 0 all zero; block 1 with amax 127 (scale 1), so ±(k + 0.5) are exact ties; block 2 so
    // small that amax / 127 rounds to 0 in f16 (a zero scale, and zeros).
    a.fill(0, 0, 32);
    for (let k = 0; k < 32; k++) a[32 + k] = k === 0 ? 127 : (k % 2 ? 1 : -1) * (k + 0.5);
    for (let k = 0; k < 32; k++) a[64 + k] = (k % 2 ? 3 : -2) * 1e-6;
  }
  const edges = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -26, 2 ** -24, 65504, 65519, -65519, 1e-6, -1e-7, 3e-5];
  edges.forEach((v, i) => { if (3 * i < a.length) a[a.length - 1 - 3 * i] = v; });
  return a;
}

/** got and want equal element for element; the first difference is reported with its index (toEqual is slow on 10⁶ elements). */
function expectSame(got: Uint16Array | Uint32Array, want: Uint16Array | Uint32Array): void {
  expect(got.length).toBe(want.length);
  let i = 0;
  while (i < want.length && got[i] === want[i]) i++;
  expect({ at: i, got: got[i] }).toEqual({ at: i, got: want[i] });
}

describe.each(buildsUnderTest().map((name) => [name, BUILD_FILES[name]]))('WebGPU weight layouts written by the module (%s)', (_name, file) => {
  // Whole pairs, padded rows, short rows, a layer over one 2^20-value chunk, a row longer than a chunk, none.
  const shapes = [[3, 64], [5, 96], [2, 33], [7, 1], [4, 2880], [400, 2880], [1, (1 << 20) + 100], [0, 64]] as const;
  it.each(shapes)('int8 rows [%i, %i] equal packQ8Rows', async (nRow, len) => {
    const { heap, exports } = await instance(file);
    const writer = wasmWeightWriter(heap, exports)!;
    const a = rows(nRow * 7919 + len, nRow, len);
    expectSame(writer.q8Rows(a, nRow, len, 'w'), typescriptWeightWriter.q8Rows(a, nRow, len, 'w'));
  });

  it('int8 rows of exact multiples and half-multiples of their scales (ties and near-integers) equal packQ8Rows', async () => {
    const { heap, exports } = await instance(file);
    const writer = wasmWeightWriter(heap, exports)!;
    const a = multiplesOfScales(91, 512, 64);
    expectSame(writer.q8Rows(a, 512, 64, 'w'), typescriptWeightWriter.q8Rows(a, 512, 64, 'w'));
  });

  it.each([0, 5, 8, 4096 + 3, (1 << 20) + 13])('f16 of %i values equals f32ToF16', async (n) => {
    const { heap, exports } = await instance(file);
    const writer = wasmWeightWriter(heap, exports)!;
    const next = rng(n + 11);
    // Subnormal halves to the largest finite one.
    const a = Float32Array.from({ length: n }, () => Math.fround((next() < 0.5 ? -1 : 1) * Math.min(65504, 2 ** (-30 + 46 * next()) * (1 + next()))));
    a.set([1 + 2 ** -11, 2 ** -25, 3 * 2 ** -26, 65504, -65504, -0].slice(0, n));
    expectSame(writer.f16(a, 'w'), typescriptWeightWriter.f16(a, 'w'));
  });

  it('refuses a weight past the range as the TypeScript writers do, naming the tensor and the element', async () => {
    const { heap, exports } = await instance(file);
    const writer = wasmWeightWriter(heap, exports)!;
    const caught = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    for (const [at, n] of [[3, 40], [(1 << 20) + 5, (1 << 20) + 9]]) {
      const a = rows(at, 1, n);
      a[at] = 65505;
      const want = caught(() => typescriptWeightWriter.f16(a, 'experts.up'));
      expect(want).toMatchObject({ code: 'range', argument: 'experts.up' });
      expect(caught(() => writer.f16(a, 'experts.up'))).toEqual(want);
      a[at] = -Q8_MAX_WEIGHT * 1.001;
      const wantQ8 = caught(() => typescriptWeightWriter.q8Rows(a, 1, n, 'shared.down'));
      expect(wantQ8).toMatchObject({ code: 'range', argument: 'shared.down' });
      expect(caught(() => writer.q8Rows(a, 1, n, 'shared.down'))).toEqual(wantQ8);
    }
  });

  it('gives its scratch back to the heap, and is offered by the wasm backend', async () => {
    const { heap, exports, module } = await instance(file);
    const writer = wasmWeightWriter(heap, exports)!;
    const before = heap.alloc(16);
    heap.release(before);
    writer.q8Rows(rows(3, 50, 2880), 50, 2880, 'w');
    writer.f16(rows(4, 50, 2880).map((v) => Math.max(-65504, Math.min(v, 65504))), 'w');
    const after = heap.alloc(16);
    expect(after).toBe(before);
    expect(wasmWeightWriter(heap, {})).toBeUndefined();
    expect((await createWasmBackend(module)).weightWriter).toBeDefined();
  });
});
