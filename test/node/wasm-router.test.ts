// The wasm path's route() against the oracle (referenceRoute) on hundreds of seeded specs per router kind
// (test/cases/random-router.ts), plus exact-tie inputs, Sinkhorn on ±1e30 logits, and scratch reuse.
// Ids and plans compared exactly; weights/probs abs + rel; stats and losses relative. Runs every build
// this engine compiles (the relaxed one needs --experimental-wasm-relaxed-simd on Node 20, see
// wasm-backend.test.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import type { RoutingCore } from '../../ts/backends/backend.js';
import { referenceRoute } from '../../ts/reference/routers/route.js';
import { resolveRouterSpec } from '../../ts/spec/router-spec.js';
import { resolveRouterInput, type RouterData } from '../../ts/spec/router-input.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import type { RouterInput, RouterSpec } from '../../ts/spec/types.js';
import { ROUTER_KINDS, randomRouterCase, routerLogits } from '../cases/random-router.js';
import { rng } from '../cases/rng.js';

/** Cases per kind: enough to hit every option combination many times; each is tiny (T, E ≤ 64). */
const CASES_PER_KIND = 250;
const TIE_CASES_PER_KIND = 60;
/** Weights and probs: both sides round the same f64 value once to f32, but exp/log differ by an ulp
 *  between V8 and AssemblyScript's musl port, which can move the f32 rounding by one ulp (6e-8 near 1). */
const WEIGHT_ABS_TOL = 1e-6;
const WEIGHT_REL_TOL = 1e-5;
/** Stats and losses: f64 sums of the same terms in the same order, up to those ulps of exp/log. */
const STAT_REL_TOL = 1e-6;
/** Absolute floor for stats that are exactly 0 on one side (cv at perfect balance). */
const STAT_ABS_TOL = 1e-12;
/** Router matmul: f32 SIMD accumulation over d ≤ 40 against the oracle's f64 sums. */
const LOGIT_REL_TOL = 1e-5;

/** Only builds this engine compiles are listed (a skip would fail CI; wasm-builds.ts). */
const BUILDS = buildsUnderTest().map((name) => ({ name, file: BUILD_FILES[name] }));

async function backendOf(file: string): Promise<WasmBackend> {
  const bytes = readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url));
  return createWasmBackend(await WebAssembly.compile(bytes));
}

function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, abs: number, rel: number): void {
  expect(got.length, `${what}.length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = abs + rel * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
  }
}

function exact(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length, `${what}.length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

function scalar(what: string, got: number | undefined, want: number | undefined): void {
  if (want === undefined) {
    expect(got, what).toBeUndefined();
    return;
  }
  close(what, [got!], [want], STAT_ABS_TOL, STAT_REL_TOL);
}

/** Every field of a RoutingCore against the oracle's. */
function expectSameRouting(got: RoutingCore, want: RoutingCore): void {
  exact('indices', got.indices, want.indices);
  close('weights', got.weights, want.weights, WEIGHT_ABS_TOL, WEIGHT_REL_TOL);
  close('probs', got.probs, want.probs, WEIGHT_ABS_TOL, WEIGHT_REL_TOL);
  exact('plan.offsets', got.plan.offsets, want.plan.offsets);
  exact('plan.rows', got.plan.rows, want.plan.rows);
  exact('plan.slots', got.plan.slots, want.plan.slots);
  // Plan weights are copies of the routing's weights (0 on padding rows): the weights' tolerance.
  close('plan.weights', got.plan.weights, want.plan.weights, WEIGHT_ABS_TOL, WEIGHT_REL_TOL);
  exact('stats.load', got.stats.load, want.stats.load);
  for (const key of ['dropped', 'deadExperts'] as const) expect(got.stats[key], `stats.${key}`).toBe(want.stats[key]);
  for (const key of ['droppedFraction', 'tokenEntropy', 'loadEntropy', 'maxOverMean', 'cv'] as const) {
    scalar(`stats.${key}`, got.stats[key], want.stats[key]);
  }
  scalar('losses.aux', got.losses.aux, want.losses.aux);
  scalar('losses.seqAux', got.losses.seqAux, want.losses.seqAux);
  scalar('losses.z', got.losses.z, want.losses.z);
}

/**
 * Routes on wasm and on the oracle. When the path computes logits itself (hidden · Wᵀ in f32 SIMD),
 * they are checked against the oracle's f64 matmul, and the oracle then routes the path's own logits:
 * the rest of the comparison must not hinge on ulps of a matmul.
 */
function compare(wasm: WasmBackend, spec: RouterSpec, input: RouterInput): RoutingCore {
  const resolved = resolveRouterSpec(spec);
  const data = resolveRouterInput(input, resolved);
  const got = wasm.route(resolved, data);
  let oracleData: RouterData = data;
  if (data.weight && !data.logits && resolved.kind !== 'self') {
    const own = referenceRoute(resolved, data);
    const norm = Math.max(1e-6, ...Array.from(own.logits, Math.abs));
    close('logits (matmul)', got.logits, own.logits, LOGIT_REL_TOL * norm, 0);
    oracleData = { ...data, logits: got.logits, hidden: undefined, weight: undefined, bias: undefined };
  }
  const want = referenceRoute(resolved, oracleData);
  exact('logits', got.logits, want.logits);
  expectSameRouting(got, want);
  return got;
}

for (const build of BUILDS) {
  describe(`wasm route() vs the oracle [${build.name}]`, () => {
    let wasm: WasmBackend;
    const ready = backendOf(build.file).then((b) => (wasm = b));

    for (const kind of ROUTER_KINDS) {
      describe(kind, () => {
        for (let seed = 1; seed <= CASES_PER_KIND; seed++) {
          const c = randomRouterCase(kind, seed);
          it(c.name, async () => {
            await ready;
            compare(wasm, c.spec, c.input);
          });
        }
        for (let seed = 1; seed <= TIE_CASES_PER_KIND; seed++) {
          const c = randomRouterCase(kind, seed, true);
          it(c.name, async () => {
            await ready;
            compare(wasm, c.spec, c.input);
          });
        }
      });
    }

    it('the comparison itself catches a wrong id, a wrong weight, a wrong plan row and a wrong loss', async () => {
      await ready;
      const c = randomRouterCase('topk', 11);
      const resolved = resolveRouterSpec(c.spec);
      const data = resolveRouterInput(c.input, resolved);
      const want = referenceRoute(resolved, data);
      const mutants: ((r: RoutingCore) => void)[] = [
        (r) => { r.indices[0] = (r.indices[0] + 1) % resolved.numExperts; },
        (r) => { r.weights[0] += 1e-4; },
        (r) => { r.plan.rows[0] += 1; },
        (r) => { r.losses.aux *= 1 + 1e-5; },
      ];
      for (const mutate of mutants) {
        const got = wasm.route(resolved, data);
        expectSameRouting(got, want);
        mutate(got);
        expect(() => expectSameRouting(got, want)).toThrow();
      }
    });

    it('exact ties go to the lower expert (selection) and the lower token (capacity, expert choice)', async () => {
      await ready;
      const E = 8;
      const T = 6;
      const logits = new Float32Array(T * E).fill(0.5); // every score equal
      const topk = compare(wasm, { kind: 'topk', numExperts: E, topK: 3, capacity: { perExpert: 2, dropPolicy: 'probs' } }, { tokens: T, logits });
      // All tokens pick 0, 1, 2; each expert keeps its two lowest tokens.
      expect(Array.from(topk.indices.subarray(0, 3))).toEqual([0, 1, 2]);
      expect(Array.from(topk.indices.subarray(6))).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1]);
      const ec = compare(wasm, { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 1, minCapacity: 2 }, { tokens: T, logits });
      expect(Array.from(ec.indices.subarray(0, E))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(ec.indices[2 * E]).toBe(-1);
      // Duplicated Sinkhorn columns have bit-equal plans: the lower expert wins.
      const dup = routerLogits(rng(5), T, E, false);
      for (let t = 0; t < T; t++) dup[t * E + 5] = dup[t * E + 2];
      compare(wasm, { kind: 'sinkhorn', numExperts: E, topK: 2 }, { tokens: T, logits: dup });
    });

    it('Sinkhorn on ±1e30 logits ends within its iteration cap with finite weights, as the oracle', async () => {
      await ready;
      const r = rng(0x51c4);
      for (const [E, T, k] of [[8, 16, 1], [8, 16, 2], [64, 33, 4], [3, 1, 3]]) {
        const logits = new Float32Array(T * E);
        for (let i = 0; i < logits.length; i++) {
          const u = r();
          logits[i] = u < 0.4 ? 1e30 : u < 0.8 ? -1e30 : (u - 0.9) * 10;
        }
        for (let e = 0; e < E; e++) logits[e] = -1e30; // a row entirely at −1e30: its ε is ∞
        if (T > 1) logits.fill(1e30, E, 2 * E); // a row entirely at +1e30: its ε is 0
        const got = compare(wasm, { kind: 'sinkhorn', numExperts: E, topK: k, maxIterations: 10_000 }, { tokens: T, logits });
        for (const w of got.weights) expect(Number.isFinite(w)).toBe(true);
        for (const p of got.probs) expect(Number.isFinite(p)).toBe(true);
        for (const e of got.indices) expect(e >= 0 && e < E).toBe(true);
      }
    });

    it('Sinkhorn plans that saturate (few tokens, logits spread over ±30) select as the oracle', async () => {
      await ready;
      // With T = 1..3 and a wide logit spread most plan entries sit at d0·c/(d0·c + ε) ≈ 1, equal but for
      // the last bits of exp(), where V8 and AssemblyScript differ: such plans must still agree exactly.
      const r = rng(0x5a7);
      for (let i = 0; i < 400; i++) {
        const E = 2 + Math.floor(r() * 40);
        const T = 1 + Math.floor(r() * 3);
        const k = 1 + Math.floor(r() * E);
        const logits = new Float32Array(T * E).map(() => (2 * r() - 1) * 30);
        compare(wasm, { kind: 'sinkhorn', numExperts: E, topK: k }, { tokens: T, logits });
      }
    });

    it('reuses its scratch: a small call after a large one, and repeated calls, give identical results', async () => {
      await ready;
      const small = randomRouterCase('topk', 3);
      const first = compare(wasm, small.spec, small.input);
      const logits = routerLogits(rng(9), 2048, 64, false);
      compare(wasm, { kind: 'topk', numExperts: 64, topK: 8, normalize: true, capacity: { factor: 1, padToCapacity: true } }, { tokens: 2048, logits });
      const again = compare(wasm, small.spec, small.input);
      exact('indices after reuse', again.indices, first.indices);
      exact('weights after reuse', again.weights, first.weights);
      // Steady state: calls of every kind no larger than one already made never grow the module's memory.
      const memory = (wasm as unknown as { wasm: { memory: WebAssembly.Memory } }).wasm.memory;
      const bytes = memory.buffer.byteLength;
      for (const kind of ROUTER_KINDS) {
        for (let seed = 1; seed <= 20; seed++) {
          const c = randomRouterCase(kind, seed);
          const resolved = resolveRouterSpec(c.spec);
          wasm.route(resolved, resolveRouterInput(c.input, resolved));
        }
      }
      expect(memory.buffer.byteLength).toBe(bytes);
    });
  });
}
