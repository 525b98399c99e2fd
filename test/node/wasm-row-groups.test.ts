// How an expert's rows are grouped must not change a bit of its output. The experts run row tiles of 4,
// and in the relaxed build whole triples of tiles as two 6-row groups (assembly/ffn/tile.ts tile6x8) —
// with their own epilogues writing half tiles of h. Every sum is the same chain of multiply-adds either
// way, so an expert's rows in one pass must equal, bit for bit, the same rows run four at a time (one
// tile each: never a 6-row group), and both must stay within the oracle's tolerance. Row counts cover
// one to several triples with every remainder, and several row blocks (layout.ts rowBlockTiles).
// Runs every build this engine compiles; `npm test` runs the relaxed one on Node 20 too (wasm-builds.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import type { WasmWeightDtype } from '../../ts/backends/wasm-experts.js';
import { decodeF16, encodeF16 } from '../../ts/formats/dtype.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';
import type { Activation, DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { randomExperts, relError } from './wasm-experts-cases.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';

/** As wasm-experts.test.ts: f32 sums two GEMMs deep against the f64 oracle. */
const OUTPUT_REL_TOL = 1e-5;
/** f16 weights: the oracle runs on the same weights rounded to f16, so only the f32 sums differ. */
const F16_REL_TOL = 1e-5;
/** int8 weights against the f32 oracle: the format's own bound (wasm-experts-dtype.test.ts). */
const INT8_REL_TOL = 4e-2;

const builds: WasmBuild[] = buildsUnderTest();

/** One expert taking tokens [first, first + n) with weight 1 and one slot each: output row t = y row t. */
function rowsPlan(first: number, n: number): DispatchPlan {
  return {
    offsets: Int32Array.from([0, n]),
    rows: Int32Array.from({ length: n }, (_, i) => first + i),
    weights: new Float32Array(n).fill(1),
    slots: Int32Array.from({ length: n }, (_, i) => first + i),
  };
}

function roundToF16(w: ExpertWeights): ExpertWeights {
  const round = (a: Float32Array) => Float32Array.from(a, (x) => decodeF16(encodeF16(x)));
  return { ...w, gate: round(w.gate), up: round(w.up), down: round(w.down) };
}

describe.each(builds)('wasm experts, %s build: row grouping', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> => (cached ??= WebAssembly.compile(
    readFileSync(new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url)),
  ).then((m) => createWasmBackend(m)));

  /** The expert's rows in one pass, and four at a time; returns the relative error of the pass. */
  const onePassAndByFours = async (w: ExpertWeights, nRow: number, dtype: WasmWeightDtype, seed: number) => {
    const wasm = await backend();
    const hidden = normal(rng(seed), nRow * w.dModel);
    const experts = wasm.prepareExperts(w, dtype);
    try {
      const whole = wasm.runExperts(experts, hidden, nRow, rowsPlan(0, nRow));
      for (let first = 0; first < nRow; first += 4) {
        const n = Math.min(4, nRow - first);
        const part = wasm.runExperts(experts, hidden, nRow, rowsPlan(first, n));
        const span = [first * w.dModel, (first + n) * w.dModel] as const;
        const same = whole.subarray(...span).every((v, i) => Object.is(v, part[span[0] + i]));
        expect(same, `rows ${first}..${first + n - 1} of ${nRow} (${dtype}, seed ${seed}) differ from the one-pass run`).toBe(true);
      }
      const oracleWeights = dtype === 'f16' ? roundToF16(w) : w;
      const want = referenceBackend.runExperts(referenceBackend.prepareExperts(oracleWeights), hidden, nRow, rowsPlan(0, nRow));
      return relError(whole, want);
    } finally {
      experts.destroy();
    }
  };

  // 3 tiles = two 6-row groups; then every remainder of tiles (0, 1, 2) and of rows (0..3).
  const ROW_COUNTS = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 36, 41];
  const ACTIVATIONS: Activation[] = ['swiglu', 'gelu'];

  it.each(ACTIVATIONS)('%s, f32: one pass equals four rows at a time, and the oracle', async (activation) => {
    let seed = 500 + 100 * ACTIVATIONS.indexOf(activation);
    for (const nRow of ROW_COUNTS) for (const bias of [false, true]) {
      seed++;
      // dModel 36 (a multiple of 4, not of 8), dFF 20: gated panels give 4 h columns, ungated 8.
      const w = randomExperts(seed, activation, 1, 36, 20, bias);
      const err = await onePassAndByFours(w, nRow, 'f32', seed);
      expect(err, `${nRow} rows, bias=${bias}`).toBeLessThanOrEqual(OUTPUT_REL_TOL);
    }
  });

  it('swiglu, f16 weights: widened panels group the same way', async () => {
    // Two or more tiles widen each f16 panel to f32 (weights.ts widenPanel); one tile runs the f16 kernels.
    for (const [i, nRow] of [12, 14, 21, 27].entries()) {
      const w = randomExperts(900 + i, 'swiglu', 1, 40, 24, true);
      const err = await onePassAndByFours(w, nRow, 'f16', 900 + i);
      expect(err, `${nRow} rows`).toBeLessThanOrEqual(F16_REL_TOL);
    }
  });

  // An expert of two rows runs them as a pair over the panels of a group (tile.ts pair2x16, pair2x32F32)
  // wherever a whole group of four panels allows, and tile2x8F32 or the 4-row tile kernel on the panels
  // after the last group; an expert of three rows leaves its padding row out (tile3x8, tile3x8F32); int8
  // leaves the padding rows out of its integer dot products (q8Tile2x8, q8Tile3x8). Each row's sums are the
  // 4-row kernel's, in the same order, so those rows alone must equal, bit for bit, the same rows run as
  // part of a tile of four. Shapes: gate/up and down with and without panels past the last group (gated
  // dFF 20 → 5 panels, 40 → 10; ungated 40 → 5; dModel 36 → 5 down panels, 72 → 9). The last tiles of
  // longer experts take the same kernels: the one-pass test above (f32, f16) compares them with the same
  // rows run alone, for every remainder.
  it.each(['f32', 'f16', 'int8'] as WasmWeightDtype[])('%s: experts of two and three rows equal those rows inside a tile of four', async (dtype) => {
    const wasm = await backend();
    let seed = 960 + 20 * ['f32', 'f16', 'int8'].indexOf(dtype);
    for (const activation of ['swiglu', 'gelu'] as Activation[]) for (const [dModel, dFF] of [[36, 20], [72, 40], [64, 128]]) {
      seed++;
      const w = randomExperts(seed, activation, 1, dModel, dFF, seed % 2 === 0);
      const hidden = normal(rng(seed), 4 * dModel);
      const experts = wasm.prepareExperts(w, dtype);
      try {
        const four = wasm.runExperts(experts, hidden, 4, rowsPlan(0, 4));
        const oracleWeights = dtype === 'f16' ? roundToF16(w) : w;
        for (const n of [2, 3]) {
          const part = wasm.runExperts(experts, hidden, 4, rowsPlan(0, n));
          const what = `${n} rows, ${dtype} ${activation} dModel ${dModel} dFF ${dFF} (seed ${seed})`;
          expect(part.subarray(0, n * dModel).every((v, i) => Object.is(v, four[i])), what).toBe(true);
          const want = referenceBackend.runExperts(referenceBackend.prepareExperts(oracleWeights), hidden, 4, rowsPlan(0, n));
          expect(relError(part, want), what).toBeLessThanOrEqual(dtype === 'int8' ? INT8_REL_TOL : dtype === 'f16' ? F16_REL_TOL : OUTPUT_REL_TOL);
        }
      } finally {
        experts.destroy();
      }
    }
  });

  it('swiglu, int8 weights: last tiles of two and three rows group the same way', async () => {
    // int8 tiles never form 6-row groups; their last tile of two or three rows leaves the padding out (q8.ts).
    for (const [i, nRow] of [13, 14, 15, 18, 19].entries()) {
      const w = randomExperts(930 + i, 'swiglu', 1, 40, 24, true);
      const err = await onePassAndByFours(w, nRow, 'int8', 930 + i);
      expect(err, `${nRow} rows`).toBeLessThanOrEqual(INT8_REL_TOL);
    }
  });

  it('several row blocks: dModel 2048 puts 16 tiles (15 with 6-row groups) in a block', async () => {
    // 512 KiB of [2048][4] tiles is 16 tiles; 6-row groups take blocks of 15, so 70 rows (18 tiles) cross one.
    const w = randomExperts(950, 'swiglu', 1, 2048, 8, true);
    const err = await onePassAndByFours(w, 70, 'f32', 950);
    expect(err).toBeLessThanOrEqual(OUTPUT_REL_TOL);
  });
});
