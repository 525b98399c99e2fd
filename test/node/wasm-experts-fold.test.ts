// f16 expert weights: the kernels fold the widening's 2¹¹² into the activations when every |x| of a call's
// rows is below 2¹⁵ (assembly/ffn/weights.ts foldScale), and keep the per-weight multiply otherwise.
// Scaling by a power of two is exact, so both must give the same bits. Checked two ways:
//   - a token alone (the 1-row kernels) against the same token inside a 4-row tile (tile4x8): both sum
//     k = 0..K−1 in order from the bias, so they agree bit for bit, whether each side folds or not — a
//     large token in the tile makes the tile unfold while the token alone still folds;
//   - calls with large activations (no fold at all) against the oracle on f16-rounded weights.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import { decodeF16, encodeF16 } from '../../ts/formats/dtype.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';
import type { DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { randomExperts, relError } from './wasm-experts-cases.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';

/** As wasm-experts-dtype.test.ts: f32 sums of f16-exact weights against the oracle's f64. */
const EXACT_REL_TOL = 1e-5;
/** An activation past the fold limit (2¹⁵): its call keeps the per-weight multiply. */
const LARGE = 40000;

const builds: WasmBuild[] = buildsUnderTest();

function f16Weights(w: ExpertWeights): ExpertWeights {
  const r = (m: Float32Array) => Float32Array.from(m, (x) => decodeF16(encodeF16(x)));
  return { ...w, gate: isGated(w.activation) ? r(w.gate) : w.gate, up: r(w.up), down: r(w.down) };
}

/** One expert, every token once, weight 1: the output rows are the expert's own rows, unmixed. */
function allTokens(nToken: number): DispatchPlan {
  const rows = Int32Array.from({ length: nToken }, (_, t) => t);
  return { offsets: Int32Array.of(0, nToken), rows, weights: new Float32Array(nToken).fill(1), slots: rows };
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe.each(builds)('wasm f16 experts, scale folded into the activations or not, %s build', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> => (cached ??= WebAssembly.compile(
    readFileSync(new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url)),
  ).then((m) => createWasmBackend(m)));

  // dModel % 32 == 0 and dFF % 16 == 0: every panel group is whole, so the 1-row path is row1x32 alone,
  // whose sums run in the same order as the tile's (row1x8 splits K over four accumulators).
  it.each([[64, 48], [96, 32]])('swiglu d=%i dFF=%i: a token alone = the same token in a tile, bit for bit', async (dModel, dFF) => {
    const wasm = await backend();
    const seed = 9400 + dModel + dFF;
    const experts = wasm.prepareExperts(randomExperts(seed, 'swiglu', 1, dModel, dFF, true, 1.5), 'f16');
    const tokens = normal(rng(seed + 1), 4 * dModel); // [4, dModel], all small: folded
    const large = tokens.slice();
    large[dModel + 3] = LARGE; // token 1 holds a large value: its tile is not folded
    const row = (h: Float32Array, t: number) => h.slice(t * dModel, (t + 1) * dModel);
    const folded = wasm.runExperts(experts, tokens, 4, allTokens(4));
    const unfolded = wasm.runExperts(experts, large, 4, allTokens(4));
    const alone0 = wasm.runExperts(experts, row(tokens, 0), 1, allTokens(1));
    const alone1 = wasm.runExperts(experts, row(large, 1), 1, allTokens(1));
    experts.destroy();
    expect(bits(alone0)).toEqual(bits(row(folded, 0)));
    expect(bits(alone0)).toEqual(bits(row(unfolded, 0)));
    expect(bits(alone1)).toEqual(bits(row(unfolded, 1)));
  });

  // Shapes with partial panel groups (row1x8) and padded reductions too; 1, 4 and 5 rows: the single
  // row, a tile, both.
  it.each([[64, 48], [40, 20], [33, 13]])('swiglu d=%i dFF=%i with activations beyond 2¹⁵ matches the oracle', async (dModel, dFF) => {
    const wasm = await backend();
    const seed = 9500 + dModel + dFF;
    const w = randomExperts(seed, 'swiglu', 1, dModel, dFF, true, 1.5);
    const experts = wasm.prepareExperts(w, 'f16');
    const oracle = referenceBackend.prepareExperts(f16Weights(w));
    for (const nToken of [1, 4, 5]) {
      const hidden = normal(rng(seed + nToken), nToken * dModel);
      for (let t = 0; t < nToken; t++) hidden[t * dModel + (t % dModel)] = t % 2 ? -LARGE : LARGE;
      const got = wasm.runExperts(experts, hidden, nToken, allTokens(nToken));
      const want = referenceBackend.runExperts(oracle, hidden, nToken, allTokens(nToken));
      const err = relError(got, want);
      expect(err, `seed ${seed}, ${nToken} tokens: vs f16-rounded oracle ${err.toExponential(2)}`).toBeLessThanOrEqual(EXACT_REL_TOL);
    }
    experts.destroy();
  });
});
