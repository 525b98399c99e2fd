// Every expert function on the wasm path against the reference oracle: the six activations, with and
// without gate/up/down biases, on seeded shapes around the tiles (4 rows × 8-wide panels; gated panels
// give 4 h columns, ungated 8): dModel and dFF equal to, below, above and multiples of them, T = 1, k = E,
// empty experts, padding rows. Runs every build this engine compiles (wasm-builds.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';
import type { Activation, DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { planWithCounts, randomExperts, relError } from './wasm-experts-cases.js';
import { activate } from '../../ts/reference/activations.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';

/**
 * Output error relative to the oracle's ‖·‖∞. f32 sums of ≤ 130 products, two GEMMs deep, against f64
 * (~1e-6), plus the activations' f32 exp and the erf approximation (A&S 7.1.26, ≤ 1.5e-7 absolute).
 */
const OUTPUT_REL_TOL = 1e-5;

/**
 * One activation value against the oracle's f64 one: the vector exp (degree-6 polynomial, ≤ 1.2e-7
 * relative) and A&S erf (≤ 1.5e-7 absolute) plus a few f32 roundings; gelu's error scales with |x|.
 */
const ACTIVATION_TOL = 1e-6;

const ACTIVATIONS: Activation[] = ['swiglu', 'geglu', 'swiglu-oai', 'gelu', 'relu', 'silu'];
const builds: WasmBuild[] = buildsUnderTest();


describe.each(builds)('wasm experts, %s build', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> => (cached ??= WebAssembly.compile(
    readFileSync(new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url)),
  ).then((m) => createWasmBackend(m)));

  const check = async (w: ExpertWeights, nToken: number, plan: DispatchPlan, seed: number, what: string) => {
    const wasm = await backend();
    const hidden = normal(rng(seed + 1), nToken * w.dModel);
    const experts = wasm.prepareExperts(w);
    const got = wasm.runExperts(experts, hidden, nToken, plan);
    experts.destroy();
    const want = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, nToken, plan);
    const err = relError(got, want);
    expect(err, `${what} (seed ${seed}): relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(OUTPUT_REL_TOL);
  };

  // (dModel, dFF): below, at, above and multiples of 4 and 8, and odd.
  const WIDTHS: [number, number][] = [[1, 1], [3, 5], [4, 4], [5, 7], [8, 8], [9, 12], [16, 17], [13, 24], [24, 33], [67, 100]];
  // Rows per expert: 0 (empty), tails 1..3, exactly one tile, one above, several tiles.
  const COUNTS = [0, 1, 2, 3, 4, 5, 8, 9, 13];

  it.each(ACTIVATIONS)('%s, with and without biases, across tile edges', async (activation) => {
    let seed = 1000 * (ACTIVATIONS.indexOf(activation) + 1);
    for (const [dModel, dFF] of WIDTHS) for (const bias of [false, true]) {
      seed++;
      const w = randomExperts(seed, activation, COUNTS.length, dModel, dFF, bias);
      await check(w, 16, planWithCounts(16, COUNTS, seed), seed, `${activation} bias=${bias} d=${dModel} dFF=${dFF}`);
    }
  });

  it.each(ACTIVATIONS)('%s: T = 1 with k = E, and a routed plan with k = E on T = 37', async (activation) => {
    const seed = 7000 + ACTIVATIONS.indexOf(activation);
    const w = randomExperts(seed, activation, 5, 21, 19, true);
    await check(w, 1, planWithCounts(1, [1, 1, 1, 1, 1], seed), seed, `${activation} T=1 k=E`);
    const routed = referenceBackend.topKSoftmax({
      logits: normal(rng(seed + 2), 37 * 5), nToken: 37, nExpert: 5, nExpertUsed: 5, normalize: false, scale: 1,
    });
    const plan = referenceBackend.buildPlan(routed.indices, routed.weights, 37, 5, 5);
    await check(w, 37, plan, seed, `${activation} T=37 k=E`);
  });

  it.each(ACTIVATIONS)('%s: each value within 1e-6·max(1, |x|) of the f64 oracle over x in [-30, 30]', async (activation) => {
    // nExpert one-unit experts (dModel = dFF = 1): expert e's gate (or up) weight is x_e, hidden is 1 and
    // down is 1, so token e's output is act(x_e) itself (up = 0.75 for the gated ones).
    const xs = Array.from({ length: 601 }, (_, i) => -30 + i / 10).concat([-1e-3, 1e-3, 6.999, 7.001, 1e-8]);
    const n = xs.length;
    const gated = isGated(activation);
    const w: ExpertWeights = {
      nExpert: n, dModel: 1, dFF: 1, activation, alpha: 1.702, limit: 7,
      gate: gated ? Float32Array.from(xs) : new Float32Array(0),
      up: gated ? new Float32Array(n).fill(0.75) : Float32Array.from(xs),
      down: new Float32Array(n).fill(1),
    };
    const rows = Int32Array.from(xs, (_, e) => e);
    const plan: DispatchPlan = { offsets: Int32Array.from({ length: n + 1 }, (_, e) => e), rows, weights: new Float32Array(n).fill(1), slots: rows };
    const wasm = await backend();
    const experts = wasm.prepareExperts(w);
    const got = wasm.runExperts(experts, new Float32Array(n).fill(1), n, plan);
    experts.destroy();
    let worst = 0;
    for (let e = 0; e < n; e++) {
      const x = Math.fround(xs[e]);
      const want = gated ? activate(activation, x, 0.75, 1.702, 7) : activate(activation, 0, x, 1.702, 7);
      const err = Math.abs(got[e] - want) / Math.max(1, Math.abs(x));
      worst = Math.max(worst, err);
      expect(err, `${activation}(${x}) = ${got[e]}, oracle ${want}`).toBeLessThanOrEqual(ACTIVATION_TOL);
    }
    console.log(`${build} ${activation}: worst |error| / max(1, |x|) = ${worst.toExponential(2)} (bound ${ACTIVATION_TOL})`);
  });

  it('experts larger than one row block (512 KiB of tiles): blocks, a padded last tile and a single row', async () => {
    // dModelK = 1024 gives 32 tiles (128 rows) per gate/up block and dFFPad = 1028 gives 31 per down
    // block; 130 rows end in a padded tile, 129 in a single row that rides with the last block.
    const w = randomExperts(8400, 'swiglu', 2, 1024, 1028, true, 1);
    await check(w, 130, planWithCounts(130, [130, 129], 8400), 8400, 'row blocks');
  });

  it('swiglu-oai honours alpha and limit; missing alpha/limit take GPT-OSS 1.702 / 7 as the oracle does', async () => {
    const base = randomExperts(8100, 'swiglu-oai', 3, 12, 20, true, 6);
    await check({ ...base, alpha: 0.5, limit: 2 }, 8, planWithCounts(8, [5, 8, 2], 8100), 8100, 'alpha 0.5 limit 2');
    const { alpha: _a, limit: _l, ...defaults } = base;
    await check(defaults, 8, planWithCounts(8, [5, 8, 2], 8101), 8101, 'defaults');
  });

  it('gelu and geglu stay within tolerance far into the tails (erf approximation, exp underflow)', async () => {
    for (const activation of ['gelu', 'geglu'] as const) {
      const w = randomExperts(8200, activation, 2, 8, 16, true, 20);
      await check(w, 6, planWithCounts(6, [6, 3], 8200), 8200, `${activation} wide inputs`);
    }
  });

  it('only the biases given are applied (up and down without gate bias)', async () => {
    const w = randomExperts(8300, 'swiglu', 3, 10, 9, true);
    await check({ ...w, gateBias: undefined }, 9, planWithCounts(9, [4, 0, 7], 8300), 8300, 'no gate bias');
    await check({ ...w, gateBias: undefined, upBias: undefined }, 9, planWithCounts(9, [4, 1, 7], 8301), 8301, 'down bias only');
  });
});
