// backend 'auto' through the public createMoE: per-call choice between the GPU (Dawn on lavapipe here) and
// WASM, outputs against the reference path, the cost source injected so the choice is the test's (never
// wall-clock time), and the fall back to the CPU when the device is lost. Without an adapter the GPU
// cases skip with their reason, except in CI (CI=true), where that is a failure.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as api from '../../ts/entry/node.js';
import { PlanTable, plannerDefaults } from '../../ts/api/planner.js';
import { setGpuProvider } from '../../ts/runtime/providers.js';
import type { MoE, MoEConfig, Routing } from '../../ts/spec/types.js';
import { expectRelativeToNorm } from '../cases/compare.js';
import { normal, rng } from '../cases/rng.js';

/** Output vs the reference, relative to its norm: the loosest path bound (WebGPU's f32 GEMMs, random-moe.ts). */
const OUTPUT_BOUND = 1e-4;
/** f16 expert weights vs the f32 reference: the bound both paths promise (wasm-experts-dtype, GpuMoEBlockWeights). */
const F16_OUTPUT_BOUND = 2e-3;
/** int8 expert weights vs the f32 reference: the bound both paths promise (wasm-experts-dtype, webgpu-experts). */
const INT8_OUTPUT_BOUND = 4e-2;
/** Gap kept between the k-th and (k+1)-th logit so every path selects the same experts. */
const MIN_LOGIT_MARGIN = 1e-3;
const TOKEN_COUNTS = [1, 64, 257];
const inCI = process.env.CI === 'true';

const d = 32, f = 48, E = 8, k = 2;
const random = rng(42);
const weights = {
  'router.weight': normal(random, E * d, 1 / Math.sqrt(d)),
  'experts.gate': normal(random, E * f * d, 1 / Math.sqrt(d)),
  'experts.up': normal(random, E * f * d, 1 / Math.sqrt(d)),
  'experts.down': normal(random, E * d * f, 1 / Math.sqrt(f)),
  'shared.gate': normal(random, f * d, 1 / Math.sqrt(d)),
  'shared.up': normal(random, f * d, 1 / Math.sqrt(d)),
  'shared.down': normal(random, d * f, 1 / Math.sqrt(f)),
};
/** Softmax top-k routes on the device; sigmoid scores route on the CPU and hand the GPU experts their selection. */
const CONFIGS: Record<string, MoEConfig> = {
  'softmax top-k': { dModel: d, router: { kind: 'topk', numExperts: E, topK: k, normalize: true }, expert: { dFF: f, activation: 'swiglu' } },
  'sigmoid top-k + shared expert': {
    dModel: d, router: { kind: 'topk', numExperts: E, topK: k, score: 'sigmoid', normalize: true },
    expert: { dFF: f, activation: 'swiglu' }, shared: { dFF: f, gated: false },
  },
};
const weightsFor = (name: string) => (CONFIGS[name].shared ? weights : Object.fromEntries(Object.entries(weights).filter(([n]) => !n.startsWith('shared.'))));

/** [T, d] tokens whose router logits have no near-tie at the k-th place. */
function hiddenOf(T: number, seed: number): Float32Array {
  const r = rng(seed);
  const hidden = new Float32Array(T * d);
  const w = weights['router.weight'];
  for (let t = 0; t < T; t++) {
    for (;;) {
      const x = normal(r, d);
      const z = Array.from({ length: E }, (_, e) => x.reduce((s, xi, i) => s + xi * w[e * d + i], 0)).sort((a, b) => b - a);
      if (z[k - 1] - z[k] >= MIN_LOGIT_MARGIN) {
        hidden.set(x, t * d);
        break;
      }
    }
  }
  return hidden;
}

const oracles = new Map<string, MoE>();
async function expectLikeReference(
  name: string, T: number, got: { output: Float32Array; routing: Routing }, hidden: Float32Array, bound = OUTPUT_BOUND,
): Promise<void> {
  if (!oracles.has(name)) oracles.set(name, await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'reference' }));
  const want = await oracles.get(name)!.forward(hidden, { tokens: T });
  expect(Array.from(got.routing.indices)).toEqual(Array.from(want.routing.indices));
  expectRelativeToNorm(`${name} T=${T} output`, got.output, want.output, bound);
}

/**
 * Two devices of this test's own (it destroys one), from Dawn as the other WebGPU tests open it; then the
 * runtime is left without a GPU, so 'auto' without options.device has none.
 */
let dawn: GPU | undefined; // held for the whole file: Dawn's instance must outlive its devices
async function openDevices(): Promise<{ devices?: GPUDevice[]; reason?: string }> {
  try {
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    const gpu = (dawn = webgpu.create([]));
    // An adapter gives one device; the second (destroyed by the device-loss case) needs its own.
    const adapters = [await gpu?.requestAdapter(), await gpu?.requestAdapter()];
    if (!adapters[0] || !adapters[1]) return { reason: 'requestAdapter() gave no adapter (Mesa Vulkan drivers installed?)' };
    return { devices: [await adapters[0].requestDevice(), await adapters[1].requestDevice()] };
  } catch (e) {
    return { reason: `the webgpu package failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}
const { devices, reason } = await openDevices();
setGpuProvider(async () => undefined);
if (!devices) console.warn(`planner-moe: GPU cases ${inCI ? 'FAILING (CI)' : 'skipping'}: ${reason}`);
/** A GPU case: skipped with its reason without a device, failed in CI. */
const gpuIt = (name: string, body: () => Promise<void>) =>
  devices ? it(name, body) : inCI ? it(name, () => { throw new Error(`no WebGPU device in CI: ${reason}`); }) : it.skip(name, body);

const saved = { ...plannerDefaults };
afterEach(() => Object.assign(plannerDefaults, saved));

/**
 * Replaces what a run costs with a model of (path, T), and stops the clock so binding a path costs nothing
 * either; returns the list of runs the planner timed.
 */
function injectCosts(model: (path: string, T: number) => number): { path: string; T: number }[] {
  const timed: { path: string; T: number }[] = [];
  plannerDefaults.table = new PlanTable();
  plannerDefaults.clock = () => 0;
  plannerDefaults.cost = (path, T) => {
    timed.push({ path, T });
    return model(path, T);
  };
  return timed;
}

describe("createMoE backend 'auto'", () => {
  it('without a GPU runs WASM, one candidate, nothing timed', async () => {
    const timed = injectCosts(() => 1);
    for (const name of Object.keys(CONFIGS)) {
      const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto' });
      expect(moe.backend).toBe('wasm');
      for (const T of TOKEN_COUNTS) {
        const hidden = hiddenOf(T, T);
        const r = await moe.forward(hidden, { tokens: T });
        expect(r.routing.backend).toBe('wasm');
        await expectLikeReference(name, T, r, hidden);
      }
      moe.destroy();
    }
    expect(timed).toEqual([]);
  });

  for (const name of Object.keys(CONFIGS)) {
    gpuIt(`with a GPU: ${name}, measured costs, outputs within the reference's tolerance for T = 1, 64, 257`, async () => {
      const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: devices![0] });
      expect(moe.backend).toBe('webgpu'); // preferred before any measurement
      for (const T of TOKEN_COUNTS) {
        const hidden = hiddenOf(T, 100 + T);
        const r = await moe.forward(hidden, { tokens: T });
        expect(['webgpu', 'wasm']).toContain(moe.backend);
        // The routing's own path: the device's, or the CPU's when this router runs there.
        expect(r.routing.backend).toBe(name === 'softmax top-k' ? moe.backend : 'wasm');
        await expectLikeReference(name, T, r, hidden);
      }
      moe.destroy();
    });
  }

  gpuIt('takes the cheaper path per class, measures each class once, and reports it', async () => {
    // The GPU wins from T = 64 on; WASM below.
    const timed = injectCosts((path, T) => (path === 'webgpu' ? 5 + 0.01 * T : 0.05 + 0.1 * T));
    const name = 'softmax top-k';
    const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: devices![0] });
    const want = { 1: 'wasm', 64: 'webgpu', 257: 'webgpu' } as Record<number, string>;
    // Largest first: the GPU's first run is the call itself, and the CPU's cost at 257 then bounds it below.
    for (const T of [257, 64, 1, ...TOKEN_COUNTS]) {
      const hidden = hiddenOf(T, 200 + T);
      const r = await moe.forward(hidden, { tokens: T });
      expect([T, r.routing.backend, moe.backend]).toEqual([T, want[T], want[T]]);
      await expectLikeReference(name, T, r, hidden);
    }
    // First pass: every class timed on both paths (and a cold loser once more); second pass: one run each.
    const second = timed.slice(-3);
    expect(second).toEqual(TOKEN_COUNTS.map((T) => ({ path: want[T], T })));
    expect(new Set(timed.slice(0, -3).filter((r) => r.T === 64).map((r) => r.path))).toEqual(new Set(['webgpu', 'wasm']));
    // A second block of the same shape on the same device reuses the plans: nothing is measured twice.
    const again = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: devices![0] });
    expect(again.backend).toBe('webgpu'); // won 2 of 3 classes
    timed.length = 0;
    await again.forward(hiddenOf(1, 9), { tokens: 1 });
    expect(timed).toEqual([{ path: 'wasm', T: 1 }]);
    moe.destroy();
    again.destroy();
  });

  gpuIt('takes a run that grew its path\'s memory (a larger T than before) as cold, and times it again warm', async () => {
    // WASM wins at T = 2 and loses at 1000. Its run of the 1000-token call grows its scratch (the WASM
    // instance is shared by this file's blocks, none of which ran more than 257 tokens), so that time may
    // include the growth: it is timed again, warm, as a path's first run would be.
    const timed = injectCosts((path, T) => (path === 'webgpu' ? 5 + 0.01 * T : 0.05 + 0.1 * T));
    const name = 'softmax top-k';
    const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: devices![0] });
    expect((await moe.forward(hiddenOf(2, 600), { tokens: 2 })).routing.backend).toBe('wasm');
    timed.length = 0;
    const hidden = hiddenOf(1000, 601);
    const r = await moe.forward(hidden, { tokens: 1000 });
    expect(r.routing.backend).toBe('webgpu');
    expect(timed[0]).toEqual({ path: 'wasm', T: 1000 });
    expect(timed.filter((run) => run.path === 'wasm')).toEqual([{ path: 'wasm', T: 1000 }, { path: 'wasm', T: 1000 }]);
    await expectLikeReference(name, 1000, r, hidden);
    moe.destroy();
  });

  gpuIt('probes a path on a prefix of the call (token ids and sequences cut with it), and returns the whole call', async () => {
    // wasm never ran at T > 2: it is timed on 2 tokens first, which bounds the call well within the budget.
    const timed = injectCosts((path, T) => (path === 'webgpu' ? 5 + 0.01 * T : 0.05 + 0.1 * T));
    const config: MoEConfig = {
      dModel: d, router: { kind: 'hash', numExperts: E, topK: k, seed: 3 }, expert: { dFF: f, activation: 'swiglu' },
    };
    const hashWeights = Object.fromEntries(Object.entries(weights).filter(([n]) => n.startsWith('experts.')));
    const moe = await api.createMoE(config, hashWeights, { backend: 'auto', device: devices![0] });
    const oracle = await api.createMoE(config, hashWeights, { backend: 'reference' });
    const T = 24;
    const hidden = hiddenOf(T, 500);
    const tokenIds = Int32Array.from({ length: T }, (_, t) => (t * 7919) % 1000);
    const options = { tokens: T, tokenIds, sequenceLength: 8 };
    const r = await moe.forward(hidden, options);
    expect(timed.filter((run) => run.path === 'wasm').map((run) => run.T)).toEqual([2, T]);
    const want = await oracle.forward(hidden, options);
    expect(Array.from(r.routing.indices)).toEqual(Array.from(want.routing.indices));
    expect(Array.from(r.routing.stats.load)).toEqual(Array.from(want.routing.stats.load));
    expect(r.routing.losses.seqAux).toBeCloseTo(want.routing.losses.seqAux!, 6);
    expectRelativeToNorm('hash T=24 output', r.output, want.output, OUTPUT_BOUND);
    moe.destroy();
    oracle.destroy();
  });

  gpuIt('a probe runs on a prefix for every router kind (none throws, so none is left out of the measurement)', async () => {
    const routers: MoEConfig['router'][] = [
      { kind: 'topk', numExperts: E, topK: k, score: 'sigmoid', normalize: true, groups: { count: 2, topk: 1, scoreTopN: 2 } },
      { kind: 'topk', numExperts: E, topK: 1, capacity: { factor: 1, dropPolicy: 'position', per: 'sequence' } },
      { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 2, minCapacity: 1 },
      { kind: 'sinkhorn', numExperts: E, topK: k },
      { kind: 'hash', numExperts: E, topK: k, seed: 5 },
    ];
    const T = 24;
    const hidden = hiddenOf(T, 700);
    const options = { tokens: T, tokenIds: Int32Array.from({ length: T }, (_, t) => (t * 31) % 500), sequenceLength: 8 };
    for (const router of routers) {
      const timed = injectCosts((path, n) => (path === 'webgpu' ? 5 + 0.01 * n : 0.05 + 0.1 * n));
      const config: MoEConfig = { dModel: d, router, expert: { dFF: f, activation: 'swiglu' } };
      const w = Object.fromEntries(Object.entries(weights).filter(([n]) => router.kind !== 'hash' ? !n.startsWith('shared.') : n.startsWith('experts.')));
      const moe = await api.createMoE(config, w, { backend: 'auto', device: devices![0] });
      await moe.forward(hidden, options);
      expect([router.kind, timed.filter((run) => run.path === 'wasm').map((run) => run.T)]).toEqual([router.kind, [2, T]]);
      moe.destroy();
    }
  });

  // f16 and int8 experts: both paths measured, each within its format's bound of the f32 reference.
  for (const [weightDtype, bound, seed] of [['f16', F16_OUTPUT_BOUND, 400], ['int8', INT8_OUTPUT_BOUND, 600]] as const) {
    gpuIt(`${weightDtype} expert weights: both paths within the ${weightDtype} bound of the f32 reference`, async () => {
      injectCosts((path, T) => (path === 'webgpu' ? 5 + 0.01 * T : 0.05 + 0.1 * T));
      const name = 'softmax top-k';
      const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: devices![0], weightDtype });
      for (const [T, path] of [[257, 'webgpu'], [1, 'wasm']] as const) {
        const hidden = hiddenOf(T, seed + T);
        const r = await moe.forward(hidden, { tokens: T });
        expect(r.routing.backend).toBe(path);
        await expectLikeReference(name, T, r, hidden, bound);
      }
      moe.destroy();
    });
  }

  gpuIt('falls back to the CPU when the GPU device is lost, and says so once', async () => {
    injectCosts((path) => (path === 'webgpu' ? 1 : 10));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const name = 'softmax top-k';
    const doomed = devices![1];
    const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { backend: 'auto', device: doomed });
    try {
      const hidden = hiddenOf(7, 7);
      expect((await moe.forward(hidden, { tokens: 7 })).routing.backend).toBe('webgpu');
      doomed.destroy();
      await doomed.lost;
      for (const T of [7, 64]) {
        const h = hiddenOf(T, 300 + T);
        const r = await moe.forward(h, { tokens: T });
        expect([r.routing.backend, moe.backend]).toEqual(['wasm', 'wasm']);
        await expectLikeReference(name, T, r, h);
      }
      expect(warn.mock.calls.filter((c) => String(c[0]).includes('device lost'))).toHaveLength(1);
    } finally {
      warn.mockRestore();
      moe.destroy();
    }
  });

  gpuIt('forced backends never measure, int8 included', async () => {
    const timed = injectCosts(() => 1);
    const name = 'softmax top-k';
    for (const options of [{ backend: 'webgpu' as const }, { backend: 'wasm' as const }, { backend: 'webgpu' as const, weightDtype: 'int8' as const }]) {
      const moe = await api.createMoE(CONFIGS[name], weightsFor(name), { ...options, device: devices![0] });
      const r = await moe.forward(hiddenOf(3, 3), { tokens: 3 });
      expect(r.routing.backend).toBe(options.backend);
      moe.destroy();
    }
    expect(timed).toEqual([]);
  });

});
