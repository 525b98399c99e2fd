// f16 expert weights give the f32 path's results bit for bit when the f32 weights are the f16 ones
// widened: the f16 kernels (assembly/ffn/tile.ts, weights.ts) widen every half exactly and sum the same
// products in the same order as the f32 kernels, whatever their panel layout (whole groups of four
// interleaved, the rest as they are) and decoding (a widening load, a plain load split into halves, or,
// for two tiles or more, each panel widened once into f32 for the f32 tile kernel), and whatever rows a
// kernel takes at once (four, three, two or one).
// Weights include f16 subnormals, negative ones and signed zeros; shapes have whole panel groups and
// partial ones; row counts give the single-row kernels, tiles, and both; activations small (the scale folded
// into them) and large (the per-weight multiply).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import { decodeF16, encodeF16 } from '../../ts/formats/dtype.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';
import { normal, rng } from '../cases/rng.js';
import { planWithCounts, randomExperts } from './wasm-experts-cases.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';

const builds: WasmBuild[] = buildsUnderTest();
/** Past the fold limit (2¹⁵): a call holding it keeps the per-weight multiply. */
const LARGE = 40000;

/** Every weight rounded to f16, then some replaced by subnormals (±k · 2⁻²⁴), negative values and ±0. */
function f16Exact(w: ExpertWeights, seed: number): ExpertWeights {
  const r = rng(seed);
  const round = (m: Float32Array) => Float32Array.from(m, (x) => {
    const u = r();
    if (u < 0.05) return (r() < 0.5 ? -1 : 1) * Math.floor(1 + r() * 1023) * 2 ** -24;
    if (u < 0.06) return r() < 0.5 ? -0 : 0;
    return decodeF16(encodeF16(x));
  });
  return { ...w, gate: isGated(w.activation) ? round(w.gate) : w.gate, up: round(w.up), down: round(w.down) };
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe.each(builds)('wasm f16 experts = f32 experts on f16 weights, bit for bit, %s build', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> => (cached ??= WebAssembly.compile(
    readFileSync(new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url)),
  ).then((m) => createWasmBackend(m)));

  // gate/up panels = ceil(dFF / 4), down panels = ceil(dModel / 8): [64, 48] 12 and 8 (whole groups),
  // [72, 28] 7 and 9, [40, 20] 5 and 5, [33, 13] 4 and 5 (a group and a tail).
  it.each([[64, 48], [72, 28], [40, 20], [33, 13]])('swiglu d=%i dFF=%i', async (dModel, dFF) => {
    const wasm = await backend();
    const seed = 9600 + dModel + dFF;
    const w = f16Exact(randomExperts(seed, 'swiglu', 3, dModel, dFF, true, 1.5), seed + 1);
    const f16 = wasm.prepareExperts(w, 'f16');
    const f32 = wasm.prepareExperts(w, 'f32');
    // Row counts per expert: 1 (single row), 2 (two panels at a time: pair2x16), 3 (a tile without its padding
    // row: tile3x8), 4 (a tile), 5 (a tile and a single row), 7 and 9 (two tiles, widened panels: a padded tile /
    // a single row after them).
    for (const [nToken, counts] of [[1, [1, 0, 1]], [3, [2, 3, 2]], [7, [4, 5, 7]], [9, [9, 1, 0]]] as [number, number[]][]) {
      const plan = planWithCounts(nToken, counts, seed + nToken);
      for (const large of [false, true]) {
        const hidden = normal(rng(seed + 10 * nToken), nToken * dModel);
        if (large) hidden[(nToken - 1) * dModel + 1] = -LARGE;
        const want = wasm.runExperts(f32, hidden, nToken, plan);
        const got = wasm.runExperts(f16, hidden, nToken, plan);
        expect(bits(got), `${nToken} tokens, counts ${counts}${large ? ', a large activation' : ''}`).toEqual(bits(want));
      }
    }
    f16.destroy();
    f32.destroy();
  });

  // Ungated panels hold 8 h columns each (gate/up as in down): two rows through pair2x16 and its epilogue,
  // three through tile3x8, beside a tile and a single row; [40, 36] has 5 up panels and 5 down panels (a group
  // and a tail).
  it.each(['gelu', 'relu'] as const)('%s, two and three rows per expert', async (activation) => {
    const wasm = await backend();
    for (const [dModel, dFF] of [[64, 64], [40, 36]]) {
      const seed = 9800 + dModel + dFF + activation.length;
      const w = f16Exact(randomExperts(seed, activation, 4, dModel, dFF, true, 1.5), seed + 1);
      const f16 = wasm.prepareExperts(w, 'f16');
      const f32 = wasm.prepareExperts(w, 'f32');
      const plan = planWithCounts(5, [2, 3, 4, 1], seed + 2);
      for (const large of [false, true]) {
        const hidden = normal(rng(seed + 3), 5 * dModel);
        if (large) hidden[dModel + 1] = LARGE;
        const want = wasm.runExperts(f32, hidden, 5, plan);
        expect(bits(wasm.runExperts(f16, hidden, 5, plan)), `d=${dModel} dFF=${dFF}${large ? ', a large activation' : ''}`).toEqual(bits(want));
      }
      f16.destroy();
      f32.destroy();
    }
  });

  // d = 2048: a tile is 32 KiB, so gate/up takes its rows in blocks of 16 tiles (assembly/ffn/layout.ts
  // ROW_BLOCK_BYTES) and widens every panel again per block; 81 rows make two blocks and a single row.
  it('swiglu d=2048 dFF=24, 81 rows: widened panels over two row blocks', async () => {
    const wasm = await backend();
    const [dModel, dFF, nToken] = [2048, 24, 81];
    const w = f16Exact(randomExperts(9700, 'swiglu', 2, dModel, dFF, true, 1.5), 9701);
    const f16 = wasm.prepareExperts(w, 'f16');
    const f32 = wasm.prepareExperts(w, 'f32');
    const plan = planWithCounts(nToken, [81, 6], 9702);
    const hidden = normal(rng(9703), nToken * dModel);
    expect(bits(wasm.runExperts(f16, hidden, nToken, plan))).toEqual(bits(wasm.runExperts(f32, hidden, nToken, plan)));
    f16.destroy();
    f32.destroy();
  });
});
