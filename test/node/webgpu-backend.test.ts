// The WebGPU backend against the reference oracle (ts/backends/reference.ts, f64 accumulation) on seeded
// shapes around the GEMM tiles (16 rows × 64 columns by default), T = 1 … 257, k = 1 … E. Runs on Dawn
// (`webgpu` npm) over Mesa lavapipe here, so shapes stay small. Without an adapter the suite skips with its reason, except in CI
// (CI=true), where that is a failure.
import { afterEach, describe, expect, it } from 'vitest';
import { dawnDeviceFor } from './dawn-device.js';
import { referenceBackend as ref } from '../../ts/backends/reference.js';
import { WebGpuBackend, type GpuMoEBlockWeights } from '../../ts/backends/webgpu.js';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import { SwitchyardError } from '../../ts/errors.js';
import { deviceDescription } from '../../ts/runtime/gpu-device.js';
import { getGpu } from '../../ts/runtime/providers.js';
import { defineParams, foldGrid, substitute } from '../../ts/kernels/wgsl.js';

/** Router logits: an f32 dot of length dModel (fma chain) against the f64 reference. */
const LOGIT_ABS = 1e-5;
const LOGIT_REL = 1e-5;
/** Probs and weights: f32 softmax (GPU exp within a few ulp) against f64. */
const WEIGHT_ABS = 1e-6;
const WEIGHT_REL = 1e-5;
/** Block output: three f32 GEMMs of length ≤ 100 plus silu; relative to the oracle's ‖·‖∞. */
const OUTPUT_REL = 1e-4;

const { device, reason } = await dawnDeviceFor('webgpu-backend');

describe('wgsl substitution and uniform packing (no GPU needed)', () => {
  it('fails on unknown, unused and leftover tokens', () => {
    expect(substitute('k', 'a {{X}} b', { X: 'f32' })).toBe('a f32 b');
    expect(() => substitute('k', '{{X}} {{Y}}', { X: 'f32' })).toThrowError(/unknown token \{\{Y\}\}/);
    expect(() => substitute('k', '{{X}}', { X: 'f32', Z: 'u32' })).toThrowError(/\{\{Z\}\} given but not in the source/);
    expect(() => substitute('k', '{{X}} {{ bad }}', { X: 'f32' })).toThrowError(/malformed token/);
  });

  it('derives the WGSL struct and the packing from one field list', () => {
    const p = defineParams('P', [['n', 'u32'], ['s', 'f32'], ['o', 'i32'], ['m', 'u32'], ['q', 'u32']] as const);
    expect(p.wgsl).toBe('struct P {\n  n: u32,\n  s: f32,\n  o: i32,\n  m: u32,\n  q: u32,\n}');
    expect(p.byteSize).toBe(32);
    const v = new DataView(p.pack({ n: 7, s: 0.5, o: -3, m: 1, q: 2 }));
    expect([v.getUint32(0, true), v.getFloat32(4, true), v.getInt32(8, true), v.getUint32(16, true)]).toEqual([7, 0.5, -3, 2]);
    expect(() => p.pack({ n: NaN, s: 0, o: 0, m: 0, q: 0 })).toThrowError(SwitchyardError);
  });

  it('folds grids past the per-dimension limit', () => {
    expect(foldGrid(10, 65535)).toEqual([10, 1]);
    const [x, y] = foldGrid(200000, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200000);
  });
});

/** mulberry32: a tiny seeded generator, so a failing case reproduces from its printed seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(n: number, r: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

function closeAll(name: string, got: Float32Array, want: Float32Array, abs: number, rel: number): void {
  expect(got.length, `${name} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = abs + rel * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`${name}[${i}]: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
    }
  }
}

function relErr(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    norm = Math.max(norm, Math.abs(want[i]));
  }
  return diff / Math.max(norm, 1e-6);
}

interface BlockCase {
  seed: number;
  nToken: number;
  nExpert: number;
  nExpertUsed: number;
  dModel: number;
  dFF: number;
  normalize: boolean;
  bias: boolean;
}

function makeBlock(c: BlockCase): { w: RoutedBlockWeights; hidden: Float32Array } {
  const r = rng(c.seed);
  const { nExpert: E, dModel: d, dFF } = c;
  // Weights ~ U(−1, 1)/√fan-in keep every activation O(1), so the tolerances mean the same at every size.
  const experts: ExpertWeights = {
    nExpert: E, dModel: d, dFF,
    gate: uniform(E * dFF * d, r, 1 / Math.sqrt(d)),
    up: uniform(E * dFF * d, r, 1 / Math.sqrt(d)),
    down: uniform(E * d * dFF, r, 1 / Math.sqrt(dFF)),
  };
  return {
    w: {
      routerWeight: uniform(E * d, r, 2 / Math.sqrt(d)),
      routerBias: c.bias ? uniform(E, r, 0.5) : undefined,
      experts, nExpertUsed: c.nExpertUsed, normalize: c.normalize, scale: c.normalize ? 1 : 1.5,
    },
    hidden: uniform(c.nToken * d, r),
  };
}

/** The router fields a block that routes itself carries (all optional in GpuMoEBlockWeights). */
type RoutedBlockWeights = GpuMoEBlockWeights & Required<Pick<GpuMoEBlockWeights, 'routerWeight' | 'nExpertUsed' | 'normalize' | 'scale'>>;

/** The oracle's answer for a block: reference logits → top-k → plan → experts. */
function oracle(w: RoutedBlockWeights, hidden: Float32Array, nToken: number) {
  const { nExpert, dModel } = w.experts;
  const logits = ref.routerLogits({ hidden, weight: w.routerWeight, bias: w.routerBias, nToken, dModel, nExpert });
  const sel = ref.topKSoftmax({ logits, nToken, nExpert, nExpertUsed: w.nExpertUsed, normalize: w.normalize, scale: w.scale });
  const plan = ref.buildPlan(sel.indices, sel.weights, nToken, w.nExpertUsed, nExpert);
  const output = ref.runExperts(ref.prepareExperts(w.experts), hidden, nToken, plan);
  return { logits, ...sel, plan, output };
}

function checkBlock(name: string, got: Awaited<ReturnType<ReturnType<WebGpuBackend['prepareBlock']>['forward']>>,
  want: ReturnType<typeof oracle>): void {
  closeAll(`${name} logits`, got.logits, want.logits, LOGIT_ABS, LOGIT_REL);
  closeAll(`${name} probs`, got.probs, want.probs, WEIGHT_ABS, WEIGHT_REL);
  expect(Array.from(got.indices), `${name} indices`).toEqual(Array.from(want.indices));
  closeAll(`${name} weights`, got.weights, want.weights, WEIGHT_ABS, WEIGHT_REL);
  const err = relErr(got.output, want.output);
  expect(err, `${name} output max|diff|/‖ref‖∞`).toBeLessThanOrEqual(OUTPUT_REL);
}

const caseName = (c: BlockCase) =>
  `seed=${c.seed} T=${c.nToken} E=${c.nExpert} k=${c.nExpertUsed} d=${c.dModel} dFF=${c.dFF}` +
  `${c.normalize ? ' norm' : ''}${c.bias ? ' bias' : ''}`;

describe.skipIf(!device)(`WebGpuBackend on ${device ? deviceDescription(device) : 'no adapter'}`, () => {
  const backends: WebGpuBackend[] = [];
  const backend = async (maxBindingBytes?: number, matvecMaxTokens?: number) => {
    const b = await WebGpuBackend.create(device!, { maxBindingBytes, matvecMaxTokens });
    backends.push(b);
    return b;
  };
  afterEach(() => backends.splice(0).forEach((b) => b.destroy()));

  it('routeTopKSoftmax matches the oracle for T ∈ {1, 7, 64, 257}, E ∈ {1, 4, 8}, k = 1..E', async () => {
    const gpu = await backend();
    expect(gpu.name).toBe('webgpu');
    let seed = 100;
    for (const nToken of [1, 7, 64, 257]) {
      for (const nExpert of [1, 4, 8]) {
        for (let k = 1; k <= nExpert; k++) {
          seed++;
          const normalize = k % 2 === 0;
          const args = { logits: uniform(nToken * nExpert, rng(seed), 4), nToken, nExpert, nExpertUsed: k, normalize,
            scale: normalize ? 1 : 2.5 };
          const name = `seed=${seed} T=${nToken} E=${nExpert} k=${k}`;
          const got = await gpu.routeTopKSoftmax(args);
          const want = ref.topKSoftmax(args);
          closeAll(`${name} probs`, got.probs, want.probs, WEIGHT_ABS, WEIGHT_REL);
          expect(Array.from(got.indices), `${name} indices`).toEqual(Array.from(want.indices));
          closeAll(`${name} weights`, got.weights, want.weights, WEIGHT_ABS, WEIGHT_REL);
          expect(Array.from(got.logits)).toEqual(Array.from(args.logits));
        }
      }
    }
  });

  it('breaks exact ties to the lower expert index', async () => {
    const gpu = await backend();
    // Token 0: all equal; token 1: experts 1 and 3 tie for first, 0 and 2 for second.
    const logits = new Float32Array([0, 0, 0, 0, 1, 2, 1, 2]);
    const got = await gpu.routeTopKSoftmax({ logits, nToken: 2, nExpert: 4, nExpertUsed: 3, normalize: true, scale: 1 });
    expect(Array.from(got.indices)).toEqual([0, 1, 2, 1, 3, 0]);
  });

  const sizes: [number, number][] = [[13, 67], [67, 100], [100, 13], [16, 32]];
  const blockCases: BlockCase[] = [];
  let seed = 1000;
  for (const nToken of [1, 7, 64, 257]) {
    for (const nExpert of [1, 4, 8]) {
      for (const k of [...new Set([1, 2, nExpert])].filter((k) => k <= nExpert)) {
        const [dModel, dFF] = sizes[seed % sizes.length];
        seed++;
        blockCases.push({ seed, nToken, nExpert, nExpertUsed: k, dModel, dFF, normalize: seed % 2 === 0, bias: seed % 3 === 0 });
      }
    }
  }

  it(`forward matches the oracle on ${blockCases.length} seeded blocks`, async () => {
    const gpu = await backend();
    for (const c of blockCases) {
      const { w, hidden } = makeBlock(c);
      const block = gpu.prepareBlock(w);
      const got = await block.forward(hidden, c.nToken, { plan: true });
      const want = oracle(w, hidden, c.nToken);
      checkBlock(caseName(c), got, want);
      // The device plan is the reference's counting sort exactly: same rows in the same order.
      const plan = got.plan!;
      expect(Array.from(plan.offsets), `${caseName(c)} plan.offsets`).toEqual(Array.from(want.plan.offsets));
      expect(Array.from(plan.rows), `${caseName(c)} plan.rows`).toEqual(Array.from(want.plan.rows));
      expect(Array.from(plan.slots), `${caseName(c)} plan.slots`).toEqual(Array.from(want.plan.slots));
      closeAll(`${caseName(c)} plan.weights`, plan.weights, want.plan.weights, WEIGHT_ABS, WEIGHT_REL);
      block.destroy();
    }
  });

  it('splits expert weights across buffers under a small binding limit, with the same answer', async () => {
    const c: BlockCase = { seed: 7, nToken: 64, nExpert: 8, nExpertUsed: 3, dModel: 13, dFF: 67, normalize: true, bias: true };
    const { w, hidden } = makeBlock(c);
    const whole = await (await backend()).prepareBlock(w).forward(hidden, c.nToken);
    const want = oracle(w, hidden, c.nToken);
    const perExpert = c.dFF * c.dModel * 4;
    // 3 + 3 + 2 experts per buffer, then one expert per buffer.
    for (const limit of [3 * perExpert + 5, perExpert]) {
      const split = await (await backend(limit)).prepareBlock(w).forward(hidden, c.nToken);
      checkBlock(`${caseName(c)} limit=${limit}`, split, want);
      // Same kernels, same summation order: splitting must not change a single bit.
      expect(Array.from(split.output)).toEqual(Array.from(whole.output));
    }
    const tooSmall = await backend(perExpert - 4);
    expect(() => tooSmall.prepareBlock(w)).toThrowError(expect.objectContaining({ code: 'limits' }));
  });

  it('takes the decode mat-vec path for few tokens, agreeing with the oracle and the GEMMs, split or not', async () => {
    const gemm = await backend(undefined, 0);
    for (const [nToken, nExpert, k, dModel, dFF] of [[1, 8, 2, 67, 13], [3, 4, 4, 13, 100], [7, 8, 3, 100, 67]]) {
      const c: BlockCase = { seed: 500 + nToken, nToken, nExpert, nExpertUsed: k, dModel, dFF, normalize: true, bias: true };
      const { w, hidden } = makeBlock(c);
      const want = oracle(w, hidden, nToken);
      const viaGemm = await gemm.prepareBlock(w).forward(hidden, nToken);
      checkBlock(`${caseName(c)} gemm`, viaGemm, want);
      for (const limit of [undefined, 3 * dFF * dModel * 4]) {
        const got = await (await backend(limit, 8)).prepareBlock(w).forward(hidden, nToken);
        checkBlock(`${caseName(c)} matvec limit=${limit}`, got, want);
        expect(relErr(got.output, viaGemm.output), `${caseName(c)} matvec vs gemm`).toBeLessThanOrEqual(OUTPUT_REL);
      }
    }
  });

  it('reuses activation buffers across token counts and serialises overlapping calls', async () => {
    const gpu = await backend();
    const c: BlockCase = { seed: 11, nToken: 64, nExpert: 4, nExpertUsed: 2, dModel: 67, dFF: 100, normalize: false, bias: false };
    const { w, hidden } = makeBlock(c);
    const block = gpu.prepareBlock(w);
    // Shrinking T keeps the larger buffers; stale rows past nToken must not leak into the answer. Only
    // the first call makes buffers, and says so in oneTimeWork (the planner then takes its time as cold).
    for (const [i, nToken] of [64, 7, 1, 64].entries()) {
      const paid = block.oneTimeWork;
      checkBlock(`${caseName(c)} T=${nToken}`, await block.forward(hidden, nToken), oracle(w, hidden, nToken));
      expect(block.oneTimeWork > paid, `T=${nToken}: buffers made`).toBe(i === 0);
    }
    const [a, b] = await Promise.all([block.forward(hidden, 7), block.forward(hidden, 64)]);
    checkBlock('overlapping T=7', a, oracle(w, hidden, 7));
    checkBlock('overlapping T=64', b, oracle(w, hidden, 64));
    block.destroy();
    await expect(block.forward(hidden, 7)).rejects.toThrowError(SwitchyardError);
  });

  it('rejects a wrong hidden length and reports a lost device as device-lost', async () => {
    const c: BlockCase = { seed: 3, nToken: 7, nExpert: 4, nExpertUsed: 2, dModel: 13, dFF: 16, normalize: true, bias: false };
    const { w, hidden } = makeBlock(c);
    const gpu = await backend();
    await expect(gpu.prepareBlock(w).forward(hidden.subarray(1), 7)).rejects.toThrowError(expect.objectContaining({ code: 'shape' }));

    // A device of our own to destroy, from the same GPU object (a second Dawn instance is not needed).
    const adapter = await (await getGpu())!.requestAdapter();
    const own = await adapter!.requestDevice();
    const doomed = await WebGpuBackend.create(own);
    const block = doomed.prepareBlock(w);
    await block.forward(hidden, 7);
    own.destroy();
    await own.lost;
    await expect(block.forward(hidden, 7)).rejects.toThrowError(expect.objectContaining({ code: 'device-lost' }));
    doomed.destroy();
  });
});
