// The wasm path against the reference oracle on seeded shapes: tile boundaries (d, dFF below, at and
// above the 4/8-wide panels), T = 1, odd sizes, k = 1..E, exact and 1-ulp near-ties, dropped slots,
// padding rows, empty experts. Runs every build this engine can compile (wasm-builds.ts: `npm test` runs
// the relaxed one under --experimental-wasm-relaxed-simd on Node 20), and the detection is asserted either way.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng } from '../cases/rng.js';
import { relError } from './wasm-experts-cases.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import { Scratch, WasmHeap } from '../../ts/backends/wasm-heap.js';
import { SwitchyardError } from '../../ts/errors.js';
import { loadWasmModule, relaxedSimdProbe, relaxedSimdSupported } from '../../ts/runtime/wasm-module.js';
import { setWasmModuleLoader, type WasmBuild } from '../../ts/runtime/providers.js';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import type { DispatchPlan } from '../../ts/spec/types.js';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';

/** f32 probs from an f32 exp vs the oracle's f64 softmax rounded once: a few ulps near 1. */
const WEIGHT_ABS_TOL = 1e-6;
const WEIGHT_REL_TOL = 1e-5;
/** f32 accumulation over ≤ 129-long dot products (and 2 GEMMs for the FFN) against f64 sums. */
const GEMM_REL_TOL = 1e-5;


function readBuild(build: WasmBuild): Uint8Array<ArrayBuffer> {
  const url = new URL(`../../build/wasm/${BUILD_FILES[build]}`, import.meta.url);
  try {
    return readFileSync(url) as Uint8Array<ArrayBuffer>;
  } catch {
    throw new Error(`build/wasm/${BUILD_FILES[build]} missing: run \`npx asc assembly/index.ts --target simd\` and \`--target relaxed\``);
  }
}

function randomArray(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

function expectClose(what: string, got: Float32Array, want: Float32Array): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = WEIGHT_ABS_TOL + WEIGHT_REL_TOL * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
    }
  }
}

function expertWeights(nExpert: number, dModel: number, dFF: number, rand: () => number): ExpertWeights {
  return {
    nExpert, dModel, dFF,
    gate: randomArray(nExpert * dFF * dModel, rand, 1 / Math.sqrt(dModel)),
    up: randomArray(nExpert * dFF * dModel, rand, 1 / Math.sqrt(dModel)),
    down: randomArray(nExpert * dModel * dFF, rand, 1 / Math.sqrt(dFF)),
  };
}

/** A plan from the oracle's routing of random logits, with every 5th slot dropped (−1) when asked. */
function randomPlan(nToken: number, nExpert: number, k: number, rand: () => number, drop: boolean): DispatchPlan {
  const routed = referenceBackend.topKSoftmax({
    logits: randomArray(nToken * nExpert, rand, 3), nToken, nExpert, nExpertUsed: k, normalize: true, scale: 1,
  });
  if (drop) {
    for (let s = 0; s < nToken * k; s += 5) {
      routed.indices[s] = -1;
      routed.weights[s] = 0;
    }
  }
  return referenceBackend.buildPlan(routed.indices, routed.weights, nToken, k, nExpert);
}

const TOKENS = [1, 7, 64, 257];
const EXPERTS = [1, 4, 8, 33];
const WIDTHS = [13, 67, 100, 129];

describe('wasm build detection', () => {
  it('relaxedSimdSupported() agrees with validating the relaxed build; the simd build always validates', () => {
    expect(WebAssembly.validate(readBuild('simd128'))).toBe(true);
    expect(WebAssembly.validate(readBuild('relaxed-simd'))).toBe(relaxedSimdSupported());
    expect(WebAssembly.validate(relaxedSimdProbe())).toBe(relaxedSimdSupported());
    if (!relaxedSimdSupported()) {
      console.warn('relaxed-SIMD build not exercised in this project: this engine rejects relaxed opcodes (the relaxed-simd project runs it)');
    }
  });

  it('loadWasmModule: no loader and no module is a backend error; an injected module reports its own build', async () => {
    await expect(loadWasmModule({})).rejects.toMatchObject({ code: 'backend', argument: 'options.wasmModule' });
    const injected = await WebAssembly.compile(readBuild('simd128'));
    expect(await loadWasmModule({ wasmModule: injected })).toEqual({ module: injected, build: 'simd128' });
  });

  it('loadWasmModule: picks the best supported build from the loader and caches it', async () => {
    const calls: WasmBuild[] = [];
    setWasmModuleLoader(async (build) => {
      calls.push(build);
      return WebAssembly.compile(readBuild(build));
    });
    const want: WasmBuild = relaxedSimdSupported() ? 'relaxed-simd' : 'simd128';
    const first = await loadWasmModule({});
    const second = await loadWasmModule({});
    expect(first.build).toBe(want);
    expect(second.module).toBe(first.module);
    expect(calls).toEqual([want]);
    expect((await createWasmBackend(first.module)).variant).toBe(want);
  });

  it('createWasmBackend rejects a module that is not a switchyard build', async () => {
    const empty = await WebAssembly.compile(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    await expect(createWasmBackend(empty)).rejects.toBeInstanceOf(SwitchyardError);
  });
});

describe('wasm scratch guards', () => {
  it('detect a write past a region', () => {
    const memory = new WebAssembly.Memory({ initial: 0 });
    const heap = new WasmHeap(memory, 0);
    const scratch = new Scratch(heap);
    scratch.reserve(Scratch.span(40) + Scratch.span(8));
    const a = scratch.take(40);
    scratch.take(8);
    scratch.check('none');
    heap.f32[(a >>> 2) + 12] = 1; // one float past the 16-aligned region
    expect(() => scratch.check('probe')).toThrow(/probe wrote outside/);
  });

  it('a memory that cannot grow is a limits error', () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 0, maximum: 1 }), 0);
    heap.alloc(1000);
    expect(() => heap.alloc(70_000)).toThrow(expect.objectContaining({ code: 'limits' }));
  });

  it('heap reuses released blocks without touching live ones', () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 0 }), 0);
    const a = heap.alloc(100);
    const b = heap.alloc(1 << 20);
    const c = heap.alloc(100);
    heap.release(b);
    heap.release(b); // a second release is ignored, not a double free
    const d = heap.alloc(1000);
    expect(d).toBe(b);
    expect(new Set([a, c, d]).size).toBe(3);
    expect(c >= d + 1000 || c + 100 <= d).toBe(true);
  });
});

const builds: WasmBuild[] = buildsUnderTest();

describe.each(builds)('wasm backend, %s build', (build) => {
  let cached: Promise<WasmBackend> | undefined;
  const backend = (): Promise<WasmBackend> =>
    (cached ??= WebAssembly.compile(readBuild(build)).then((m) => createWasmBackend(m)));

  it('reports its variant', async () => {
    expect((await backend()).variant).toBe(build);
    expect((await backend()).name).toBe('wasm');
  });

  it('routerLogits matches the oracle', async () => {
    const wasm = await backend();
    let seed = 100;
    for (const nToken of TOKENS) for (const nExpert of EXPERTS) for (const dModel of [1, 3, 4, 8, ...WIDTHS]) {
      const rand = rng(++seed);
      const args = {
        hidden: randomArray(nToken * dModel, rand), weight: randomArray(nExpert * dModel, rand),
        bias: seed % 2 === 0 ? randomArray(nExpert, rand) : undefined, nToken, dModel, nExpert,
      };
      const err = relError(wasm.routerLogits(args), referenceBackend.routerLogits(args));
      expect(err, `seed ${seed} T=${nToken} E=${nExpert} d=${dModel}`).toBeLessThanOrEqual(GEMM_REL_TOL);
    }
  });

  it('topKSoftmax matches the oracle for k = 1..E, with exact and 1-ulp ties', async () => {
    const wasm = await backend();
    let seed = 200;
    for (const nToken of TOKENS) for (const nExpert of EXPERTS) for (let k = 1; k <= nExpert; k++) {
      const rand = rng(++seed);
      const logits = randomArray(nToken * nExpert, rand, 4);
      const kind = seed % 3;
      if (kind === 1) {
        // Exact ties: a coarse grid makes many equal logits; the lower expert index must win.
        for (let i = 0; i < logits.length; i++) logits[i] = Math.round(logits[i]);
      } else if (kind === 2) {
        // Near-ties: pairs of experts one f32 ulp apart; the larger must win although the f32 probs tie.
        for (let i = 0; i + 1 < logits.length; i += 2) {
          const bits = new Int32Array(new Float32Array([logits[i]]).buffer);
          bits[0] += rand() < 0.5 ? 1 : -1;
          logits[i + 1] = new Float32Array(bits.buffer)[0];
        }
      }
      const normalize = seed % 2 === 0;
      const scale = seed % 5 === 0 ? 2.5 : 1;
      const args = { logits, nToken, nExpert, nExpertUsed: k, normalize, scale };
      const got = wasm.topKSoftmax(args);
      const want = referenceBackend.topKSoftmax(args);
      const what = `seed ${seed} T=${nToken} E=${nExpert} k=${k} normalize=${normalize} scale=${scale}`;
      expect(Array.from(got.indices), what).toEqual(Array.from(want.indices));
      expectClose(`${what} probs`, got.probs, want.probs);
      expectClose(`${what} weights`, got.weights, want.weights);
    }
  });

  it('buildPlan matches the oracle exactly, skipping −1', async () => {
    const wasm = await backend();
    let seed = 300;
    for (const nToken of [0, ...TOKENS]) for (const nExpert of EXPERTS) for (const k of [1, 2, nExpert]) {
      if (k > nExpert) continue;
      const rand = rng(++seed);
      const indices = new Int32Array(nToken * k);
      for (let i = 0; i < indices.length; i++) indices[i] = rand() < 0.15 ? -1 : Math.floor(rand() * nExpert);
      const weights = randomArray(nToken * k, rand);
      const got = wasm.buildPlan(indices, weights, nToken, k, nExpert);
      const want = referenceBackend.buildPlan(indices, weights, nToken, k, nExpert);
      const what = `seed ${seed} T=${nToken} E=${nExpert} k=${k}`;
      expect(Array.from(got.offsets), what).toEqual(Array.from(want.offsets));
      expect(Array.from(got.rows), what).toEqual(Array.from(want.rows));
      expect(Array.from(got.slots), what).toEqual(Array.from(want.slots));
      expect(Array.from(got.weights), what).toEqual(Array.from(want.weights));
    }
  });

  // (T, E, k, dModel, dFF): tile edges of the 4×8 kernels, T = 1 decode, empty experts, k = E.
  const ffnCases: [number, number, number, number, number][] = [
    [1, 1, 1, 1, 1], [1, 4, 2, 13, 67], [1, 33, 4, 8, 4], [7, 4, 4, 3, 5], [7, 8, 2, 16, 8],
    [7, 33, 3, 67, 13], [64, 8, 2, 100, 129], [64, 4, 4, 129, 100], [64, 1, 1, 9, 7],
    [257, 8, 2, 13, 67], [257, 33, 5, 67, 13], [257, 4, 1, 24, 12],
  ];

  it.each(ffnCases)('runExperts matches the oracle: T=%i E=%i k=%i d=%i dFF=%i', async (nToken, nExpert, k, dModel, dFF) => {
    const wasm = await backend();
    for (const drop of [false, true]) {
      const seed = nToken * 1000 + nExpert * 10 + k + (drop ? 7 : 0);
      const rand = rng(seed);
      const w = expertWeights(nExpert, dModel, dFF, rand);
      const hidden = randomArray(nToken * dModel, rand);
      const plan = randomPlan(nToken, nExpert, k, rand, drop);
      const experts = wasm.prepareExperts(w);
      const got = wasm.runExperts(experts, hidden, nToken, plan);
      const want = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, nToken, plan);
      expect(relError(got, want), `seed ${seed} drop=${drop}`).toBeLessThanOrEqual(GEMM_REL_TOL);
      // Same inputs, same bits: the combine order does not depend on anything but the slots.
      expect(Array.from(wasm.runExperts(experts, hidden, nToken, plan))).toEqual(Array.from(got));
      experts.destroy();
    }
  });

  it('runExperts: padding rows (slot −1, weight 0) contribute nothing; tokens without rows are 0', async () => {
    const wasm = await backend();
    const rand = rng(4242);
    const w = expertWeights(3, 13, 9, rand);
    const hidden = randomArray(5 * 13, rand);
    // Expert 0: tokens 0, 2 (+ padding row for token 4); expert 2: token 2. Tokens 1, 3 get nothing.
    const plan: DispatchPlan = {
      offsets: Int32Array.from([0, 3, 3, 4]),
      rows: Int32Array.from([0, 2, 4, 2]),
      weights: Float32Array.from([0.25, 0.5, 0, 0.5]),
      slots: Int32Array.from([0, 4, -1, 5]),
    };
    const got = wasm.runExperts(wasm.prepareExperts(w), hidden, 5, plan);
    const want = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, 5, plan);
    expect(relError(got, want)).toBeLessThanOrEqual(GEMM_REL_TOL);
    for (const t of [1, 3, 4]) expect(Array.from(got.subarray(t * 13, t * 13 + 13))).toEqual(new Array(13).fill(0));
  });

  it('prepared experts survive other allocations, memory growth and destroy of their neighbours', async () => {
    const wasm = await backend();
    const rand = rng(777);
    const wa = expertWeights(4, 67, 100, rand);
    const wb = expertWeights(8, 13, 129, rand);
    const a = wasm.prepareExperts(wa);
    const b = wasm.prepareExperts(wb);
    const hidden = randomArray(64 * 67, rand);
    const planA = randomPlan(64, 4, 2, rand, false);
    const before = wasm.runExperts(a, hidden, 64, planA);
    b.destroy();
    // A large call grows the scratch (and the memory) past everything allocated so far, and counts it as
    // one-time work (the planner takes such a run as cold); the smaller call after it grows nothing.
    const big = expertWeights(2, 129, 129, rand);
    const c = wasm.prepareExperts(big);
    const bigHidden = randomArray(2048 * 129, rand);
    const paid = wasm.oneTimeWork;
    wasm.runExperts(c, bigHidden, 2048, randomPlan(2048, 2, 2, rand, false));
    expect(wasm.oneTimeWork).toBe(paid + 1);
    expect(Array.from(wasm.runExperts(a, hidden, 64, planA))).toEqual(Array.from(before));
    expect(wasm.oneTimeWork).toBe(paid + 1);
    a.destroy();
    c.destroy();
    expect(() => wasm.runExperts(a, hidden, 64, planA)).toThrow(SwitchyardError);
  });

  it('rejects a plan that would address outside its buffers', async () => {
    const wasm = await backend();
    const experts = wasm.prepareExperts(expertWeights(2, 4, 4, rng(5)));
    const bad: DispatchPlan = {
      offsets: Int32Array.from([0, 1, 3]), rows: Int32Array.from([0, 1]),
      weights: Float32Array.from([1, 1]), slots: Int32Array.from([0, 1]),
    };
    expect(() => wasm.runExperts(experts, new Float32Array(8), 2, bad)).toThrow(/plan.offsets/);
    const badRow = { ...bad, offsets: Int32Array.from([0, 1, 2]), rows: Int32Array.from([0, 9]) };
    expect(() => wasm.runExperts(experts, new Float32Array(8), 2, badRow)).toThrow(/plan.rows/);
    experts.destroy();
  });
});
