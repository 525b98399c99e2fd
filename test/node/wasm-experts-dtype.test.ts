// f16 and block-wise int8 expert weights on the wasm path. Two checks per case:
//   exact: against the oracle run on the same weights rounded the way the format rounds them (f16 round
//          trip; int8 per output row, blocks of 32 inputs, scale = f16(amax / 127), q = round(w / s)),
//          written here on the canonical layout, independently of the packer's panel layout — the
//          kernels must then match as tightly as the f32 path does;
//   f32:   against the oracle on the f32 weights, within the documented accuracy of each format.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';
import type { Activation } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { int8RoundTrip, roundF16 } from '../cases/weight-formats.js';
import { planWithCounts, randomExperts, relError } from './wasm-experts-cases.js';
import * as api from '../../ts/entry/node.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import type { WasmHeap } from '../../ts/backends/wasm-heap.js';
import { Q8_MAX_WEIGHT } from '../../ts/formats/q8.js';

/**
 * Same weights as the kernels see them: f32 sums against f64, as for f32 weights (wasm-experts.test.ts).
 * int8 adds the rounding of the activations to i16 per 32-block for the integer kernels (assembly/ffn/q8.ts:
 * ≤ 2⁻¹⁶ of the block's largest |x|, in both projections): measured ≤ 6.3e-5.
 */
const EXACT_REL_TOL = { f16: 1e-5, int8: 2e-4 } as const;
/**
 * Output error vs f32 weights, relative to the output's ‖·‖∞. f16 keeps 11 significant bits (relative
 * rounding ≤ 2⁻¹¹ ≈ 4.9e-4 per weight, errors partly cancel over a dot product); int8 rounds each weight
 * by up to amax/254 of its block (≤ 0.4 % of the block's largest weight). Measured worst over these
 * cases: 3.5e-4 (f16) and 1.5e-2 (int8); the bounds leave room for other seeds.
 */
const VS_F32_REL_TOL = { f16: 2e-3, int8: 4e-2 } as const;

const builds: WasmBuild[] = buildsUnderTest();
const f16 = roundF16;


function roundTrip(w: ExpertWeights, dtype: 'f16' | 'int8'): ExpertWeights {
  const { dModel, dFF } = w;
  const conv = (m: Float32Array, cols: number) => (dtype === 'f16' ? Float32Array.from(m, f16) : int8RoundTrip(m, cols));
  return { ...w, gate: isGated(w.activation) ? conv(w.gate, dModel) : w.gate, up: conv(w.up, dModel), down: conv(w.down, dFF) };
}

describe.each(builds)('wasm f16 / int8 experts, %s build', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> => (cached ??= WebAssembly.compile(
    readFileSync(new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url)),
  ).then((m) => createWasmBackend(m)));

  // (activation, dModel, dFF): below, at and above the int8 block of 32 and the 4/8-wide panels; the last
  // two with steps enough that the load packs them in several chunks of panels, the last one partial.
  const CASES: [Activation, number, number][] = [
    ['swiglu', 13, 20], ['swiglu', 32, 32], ['swiglu', 33, 65], ['geglu', 64, 31], ['swiglu-oai', 40, 24],
    ['relu', 31, 33], ['gelu', 96, 17], ['silu', 8, 100], ['swiglu', 520, 100], ['relu', 100, 530],
  ];
  const COUNTS = [0, 1, 2, 3, 4, 5, 9];

  for (const dtype of ['f16', 'int8'] as const) {
    it.each(CASES)(`${dtype}: %s d=%i dFF=%i matches the oracle on ${dtype}-rounded weights, and f32 within its bound`, async (activation, dModel, dFF) => {
      const wasm = await backend();
      const seed = 9000 + dModel * 7 + dFF + (dtype === 'int8' ? 500 : 0);
      const w = randomExperts(seed, activation, COUNTS.length, dModel, dFF, true, 1.5);
      const plan = planWithCounts(12, COUNTS, seed);
      const hidden = normal(rng(seed + 1), 12 * dModel);
      const experts = wasm.prepareExperts(w, dtype);
      const got = wasm.runExperts(experts, hidden, 12, plan);
      experts.destroy();
      const exact = referenceBackend.runExperts(referenceBackend.prepareExperts(roundTrip(w, dtype)), hidden, 12, plan);
      const f32 = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, 12, plan);
      const errExact = relError(got, exact);
      const errF32 = relError(got, f32);
      console.log(`${build} ${dtype} ${activation} d=${dModel} dFF=${dFF}: vs ${dtype}-rounded oracle ${errExact.toExponential(2)} (bound ${EXACT_REL_TOL[dtype]}), vs f32 ${errF32.toExponential(2)} (bound ${VS_F32_REL_TOL[dtype]})`);
      expect(errExact, `seed ${seed}: vs ${dtype}-rounded oracle ${errExact.toExponential(2)}`).toBeLessThanOrEqual(EXACT_REL_TOL[dtype]);
      expect(errF32, `seed ${seed}: vs f32 oracle ${errF32.toExponential(2)}`).toBeLessThanOrEqual(VS_F32_REL_TOL[dtype]);
    });
  }

  it('a weight past the f16 / int8 range is a range error naming that tensor, and nothing stays allocated', async () => {
    const wasm = await backend();
    // White-box: the next block the heap would hand out, before and after the failures.
    const heap = (wasm as unknown as { heap: WasmHeap }).heap;
    const probe = heap.alloc(16);
    heap.release(probe);
    const past = { f16: 65505, int8: Q8_MAX_WEIGHT * 1.001 } as const;
    for (const dtype of ['f16', 'int8'] as const) {
      for (const activation of ['swiglu', 'relu'] as const) {
        for (const which of isGated(activation) ? ['gate', 'up', 'down'] as const : ['up', 'down'] as const) {
          // Big enough to take several chunks of panels (wasm-pack.ts); the culprit in the last expert.
          const w = randomExperts(9100, activation, 3, 72, 40, true);
          w[which][w[which].length - 7] = -past[dtype];
          expect(() => wasm.prepareExperts(w, dtype, 'shared'), `${dtype} ${activation} ${which}`)
            .toThrow(expect.objectContaining({ code: 'range', argument: `weights['shared.${which}']` }));
          // Just inside the range packs.
          w[which][w[which].length - 7] = dtype === 'f16' ? -65504 : -Q8_MAX_WEIGHT;
          wasm.prepareExperts(w, dtype).destroy();
        }
      }
    }
    expect(heap.alloc(16)).toBe(probe);
    heap.release(probe);
  });

  it('all-zero int8 blocks (scale 0) give exact zeros, not NaN', async () => {
    const wasm = await backend();
    const w = randomExperts(9200, 'relu', 1, 40, 8, false);
    w.up.fill(0, 0, 8 * 40);
    const experts = wasm.prepareExperts(w, 'int8');
    const rows = Int32Array.of(0);
    const out = wasm.runExperts(experts, normal(rng(1), 40), 1, { offsets: Int32Array.of(0, 1), rows, weights: Float32Array.of(1), slots: rows });
    experts.destroy();
    expect(Array.from(out)).toEqual(new Array(40).fill(0));
  });
});

describe('createMoE weightDtype on the cpu paths', () => {
  const d = 48;
  const f = 40;
  const E = 6;
  const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu' as const } };
  const r = rng(9300);
  const weights = {
    'router.weight': normal(r, E * d, 1 / Math.sqrt(d)), 'experts.gate': normal(r, E * f * d, 1 / Math.sqrt(d)),
    'experts.up': normal(r, E * f * d, 1 / Math.sqrt(d)), 'experts.down': normal(r, E * d * f, 1 / Math.sqrt(f)),
  };
  const hidden = normal(r, 9 * d);

  it.each(['f16', 'int8'] as const)('%s on wasm: same routing as f32, output within the format bound', async (dtype) => {
    const oracle = await api.createMoE(config, weights, { backend: 'reference' });
    const moe = await api.createMoE(config, weights, { backend: 'wasm', weightDtype: dtype });
    expect(moe.backend).toBe('wasm');
    const want = await oracle.forward(hidden, { tokens: 9 });
    const got = await moe.forward(hidden, { tokens: 9 });
    expect(Array.from(got.routing.indices)).toEqual(Array.from(want.routing.indices));
    expect(relError(got.output, want.output)).toBeLessThanOrEqual(VS_F32_REL_TOL[dtype]);
    moe.destroy();
    oracle.destroy();
  });

  it('int8 or f16 on the reference path are config errors', async () => {
    for (const [backend, weightDtype] of [['reference', 'f16'], ['reference', 'int8']] as const) {
      await expect(api.createMoE(config, weights, { backend, weightDtype })).rejects.toMatchObject({ code: 'config', argument: 'options.weightDtype' });
    }
  });
});
