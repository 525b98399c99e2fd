// The module's load-time converters (assembly/ffn/convert.ts) against the TypeScript writers of the same
// layouts (wasm-layouts.ts, written from the rules of ts/formats/q8.ts and dtype.ts): equal bit for
// bit on random panels and on the edges — all-zero blocks, blocks whose f16 scale underflows to 0, exact ties
// of the int8 rounding (both signs), f16 ties, subnormal and overflowing halves, a last partial group. And the
// whole load (wasm-pack.ts with assembly/ffn/pack-panels.ts): a backend's packed f32, f16 and int8 blocks
// against panels written here from the layout's definition, with shapes that take several chunks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeF16, writeInt8 } from './wasm-layouts.js';
import { rng } from '../cases/rng.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import { multiplesOfScales } from './q8-edge-weights.js';
import { randomExperts } from './wasm-experts-cases.js';
import { createWasmBackend } from '../../ts/backends/wasm.js';
import { packedShape, type PackedShape, type WasmExperts } from '../../ts/backends/wasm-experts.js';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import type { WasmHeap } from '../../ts/backends/wasm-heap.js';

interface Converters {
  memory: WebAssembly.Memory;
  heapBase(): number;
  convertF16(src: number, nPanel: number, K: number, dst: number): void;
  convertInt8(src: number, nPanel: number, K: number, q: number, scales: number): void;
}

async function converters(file: string): Promise<Converters> {
  const { instance } = await WebAssembly.instantiate(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)), {});
  return instance.exports as unknown as Converters;
}

/** Random panels [nPanel][K][8], with edge values planted. */
function panels(seed: number, nPanel: number, K: number): Float32Array {
  const next = rng(seed);
  const a = Float32Array.from({ length: nPanel * K * 8 }, () => (next() - 0.5) * 2 ** (-12 + 14 * next()));
  // Panel 0, block 0: all zero. Block 1, column 0: amax 127 (scale 1), so k + 0.5 are exact ties, both signs.
  a.fill(0, 0, 32 * 8);
  for (let k = 0; k < 32 && K >= 64; k++) a[(32 + k) * 8] = k === 0 ? 127 : (k % 2 ? 1 : -1) * (k + 0.5);
  // Block 2, column 1: so small that amax / 127 rounds to 0 in f16: a zero scale, and zeros.
  for (let k = 0; k < 32 && K >= 96; k++) a[(64 + k) * 8 + 1] = (k % 2 ? 3 : -2) * 1e-6;
  // f16 edges: ties, subnormals, the overflow boundary, tiny blocks with subnormal f16 scales.
  const edges = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -26, 2 ** -24, 65504, 65519, 65520, 1e-6, -1e-7, 3e-5];
  edges.forEach((v, i) => { a[a.length - 1 - 3 * i] = v; });
  return a;
}

/** convertInt8 of the panels `src` (already in memory at srcPtr) gives writeInt8's values and scales. */
function expectInt8AsWriter(x: Converters, srcPtr: number, src: Float32Array, nPanel: number, K: number, qPtr: number, scalePtr: number): void {
  const n = src.length;
  x.convertInt8(srcPtr, nPanel, K, qPtr, scalePtr);
  const wantQ = new Int8Array(n);
  const wantScales = new Uint16Array(n / 32);
  writeInt8(wantQ, 0, wantScales, 0, src, nPanel, K);
  expect(new Int8Array(x.memory.buffer, qPtr, n)).toEqual(wantQ);
  expect(new Uint16Array(x.memory.buffer, scalePtr, n / 32)).toEqual(wantScales);
}

describe.each(buildsUnderTest().map((name) => [name, BUILD_FILES[name]]))('load-time conversion (%s)', (_name, file) => {
  for (const [nPanel, K] of [[4, 64], [7, 96], [1, 32], [9, 2880 / 10 * 2], [5, 4]] as const) {
    it(`f16 and int8 of ${nPanel} panels × K ${K} equal the TypeScript writers`, async () => {
      const x = await converters(file);
      const src = panels(nPanel * 1000 + K, nPanel, K);
      const n = src.length;
      const base = Math.ceil(x.heapBase() / 64) * 64;
      const need = base + n * 4 + n * 2 + n + n / 16 + 256;
      if (need > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / 65536));
      const srcPtr = base;
      const f16Ptr = srcPtr + n * 4;
      const qPtr = f16Ptr + n * 2;
      const scalePtr = qPtr + n + 16;
      new Float32Array(x.memory.buffer, srcPtr, n).set(src);
      x.convertF16(srcPtr, nPanel, K, f16Ptr);
      const wantF16 = new Uint16Array(n);
      writeF16(wantF16, 0, src, nPanel, K);
      expect(new Uint16Array(x.memory.buffer, f16Ptr, n)).toEqual(wantF16);
      if (K % 32 === 0) expectInt8AsWriter(x, srcPtr, src, nPanel, K, qPtr, scalePtr);
    });
  }

  it('int8 of panels whose blocks are exact multiples and half-multiples of non-power-of-two scales equals the TypeScript writer', async () => {
    const x = await converters(file);
    const [nPanel, K] = [6, 256];
    // Rows [8 · nPanel, K] of such blocks, then panels by the layout's definition: column c of panel p is row 8p + c.
    const rows = multiplesOfScales(92, 8 * nPanel, K);
    const src = new Float32Array(nPanel * K * 8);
    for (let p = 0; p < nPanel; p++) for (let k = 0; k < K; k++) for (let c = 0; c < 8; c++) src[(p * K + k) * 8 + c] = rows[(8 * p + c) * K + k];
    const n = src.length;
    const base = Math.ceil(x.heapBase() / 64) * 64;
    const need = base + n * 5 + n / 16 + 256;
    if (need > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / 65536));
    new Float32Array(x.memory.buffer, base, n).set(src);
    expectInt8AsWriter(x, base, src, nPanel, K, base + n * 4, base + n * 5 + 16);
  });

  it('f16 of 256k values over the whole f32 range, subnormal halves to overflow, equals the TypeScript writer', async () => {
    const x = await converters(file);
    const next = rng(77);
    const nPanel = 8;
    const K = 4096;
    const src = Float32Array.from({ length: nPanel * K * 8 }, () => Math.fround((next() < 0.5 ? -1 : 1) * 2 ** (-30 + 47 * next()) * (1 + next())));
    const n = src.length;
    const base = Math.ceil(x.heapBase() / 64) * 64;
    const need = base + n * 6 + 256;
    if (need > x.memory.buffer.byteLength) x.memory.grow(Math.ceil((need - x.memory.buffer.byteLength) / 65536));
    new Float32Array(x.memory.buffer, base, n).set(src);
    x.convertF16(base, nPanel, K, base + n * 4);
    const want = new Uint16Array(n);
    writeF16(want, 0, src, nPanel, K);
    expect(new Uint16Array(x.memory.buffer, base + n * 4, n)).toEqual(want);
  });

  // The whole load: wasm-pack.ts copies rows a chunk at a time, the module packs them (pack-panels.ts) and
  // converts them; the blocks must equal the layout's definition, packed here element by element.
  for (const [activation, dModel, dFF, nExpert] of [['swiglu', 520, 100, 2], ['relu', 100, 530, 2], ['geglu', 33, 13, 3], ['silu', 1100, 9, 1]] as const) {
    it(`${activation} experts d=${dModel} dFF=${dFF} pack to the layout's definition, f32, f16 and int8`, async () => {
      const module = await WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));
      const wasm = await createWasmBackend(module);
      const heap = (wasm as unknown as { heap: WasmHeap }).heap;
      const w = randomExperts(dModel * 31 + dFF, activation, nExpert, dModel, dFF, false);
      for (const dtype of ['f32', 'f16', 'int8'] as const) {
        const s = packedShape(activation, dModel, dFF, dtype);
        const experts = wasm.prepareExperts(w, dtype) as WasmExperts;
        const { gateUp, down } = definitionPanels(w, s);
        const blocks = [[gateUp, experts.ptrs.gateUp, experts.ptrs.gateUpScales, s.nPanel, s.dModelK], [down, experts.ptrs.down, experts.ptrs.downScales, s.dModelPad / 8, s.dFFPad]] as const;
        for (const [panels, ptr, scales, nPanel, K] of blocks) {
          const n = panels.length;
          if (dtype === 'f32') {
            expect(heap.f32.subarray(ptr >>> 2, (ptr >>> 2) + n)).toEqual(panels);
          } else if (dtype === 'f16') {
            const want = new Uint16Array(n);
            for (let e = 0; e < nExpert; e++) writeF16(want, e * n / nExpert, panels.subarray(e * n / nExpert, (e + 1) * n / nExpert), nPanel, K);
            expect(heap.u16.subarray(ptr >>> 1, (ptr >>> 1) + n)).toEqual(want);
          } else {
            const q = new Int8Array(n);
            const sc = new Uint16Array(n / 32);
            for (let e = 0; e < nExpert; e++) writeInt8(q, e * n / nExpert, sc, e * n / nExpert / 32, panels.subarray(e * n / nExpert, (e + 1) * n / nExpert), nPanel, K);
            expect(heap.i8.subarray(ptr, ptr + n)).toEqual(q);
            expect(heap.u16.subarray(scales >>> 1, (scales >>> 1) + n / 32)).toEqual(sc);
          }
        }
        experts.destroy();
      }
    });
  }
});

/** Every expert's gate/up and down as f32 panels, by the layout's definition (assembly/ffn/layout.ts). */
function definitionPanels(w: ExpertWeights, s: PackedShape): { gateUp: Float32Array; down: Float32Array } {
  const { nExpert, dModel, dFF } = w;
  const cols = s.gated ? 4 : 8;
  const guPer = s.nPanel * s.dModelK * 8;
  const dnPer = s.dModelPad * s.dFFPad;
  const gateUp = new Float32Array(nExpert * guPer);
  const down = new Float32Array(nExpert * dnPer);
  for (let e = 0; e < nExpert; e++) {
    for (let n = 0; n < dFF; n++) {
      for (let i = 0; i < dModel; i++) {
        const at = e * guPer + Math.floor(n / cols) * s.dModelK * 8 + i * 8 + (n % cols);
        const src = (e * dFF + n) * dModel + i;
        if (s.gated) {
          gateUp[at] = w.gate[src];
          gateUp[at + 4] = w.up[src];
        } else {
          gateUp[at] = w.up[src];
        }
      }
    }
    for (let m = 0; m < dModel; m++) {
      for (let i = 0; i < dFF; i++) down[e * dnPer + Math.floor(m / 8) * s.dFFPad * 8 + i * 8 + (m % 8)] = w.down[(e * dModel + m) * dFF + i];
    }
  }
  return { gateUp, down };
}
