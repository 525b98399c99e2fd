// The WebGPU block's expert functions against the oracle: every activation × expert biases × shared
// expert (absent, ungated, σ-gated) × routing (computed on the device, or given with −1 dropped slots),
// T ∈ {1, 7, 64}, odd dModel/dFF, on both the grouped-GEMM and the decode mat-vec path; the gelu erf
// approximation measured through the block; f16 weights against the f32 oracle and against the oracle
// on the f16-rounded weights; int8 weights likewise; the f32 fallback without shader-f16. Dawn (`webgpu` npm) on Mesa lavapipe
// here, so shapes stay small. Without an adapter the suite skips with its reason, except in CI (CI=true).
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createMoE } from '../../ts/entry/node.js';
import { wasmPath } from '../../ts/api/paths.js';
import { dawnDeviceFor } from './dawn-device.js';
import { referenceBackend as ref } from '../../ts/backends/reference.js';
import { WebGpuBackend, type GpuMoEBlockWeights, type GpuRouting } from '../../ts/backends/webgpu.js';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import type { Activation, DispatchPlan } from '../../ts/spec/types.js';
import { activate, erf, gelu } from '../../ts/reference/activations.js';
import { f32ToF16, toFloat32 } from '../../ts/formats/dtype.js';
import { deviceDescription } from '../../ts/runtime/gpu-device.js';
import { getGpu } from '../../ts/runtime/providers.js';
import { expectClose, expectExact, expectRelativeToNorm } from '../cases/compare.js';
import { rng } from '../cases/rng.js';
import { int8RoundTrip } from '../cases/weight-formats.js';
import { q8RowBytes } from '../../ts/backends/webgpu-q8.js';

/**
 * Block output, f32 weights: up to three f32 dot products of length ≤ 45 in fma chains plus an f32
 * activation (exp within a few ulp, erf within 1e-6), against f64; judged relative to the output's ‖·‖∞.
 */
const OUTPUT_REL = 1e-4;
/** Router weights of a block that routes itself: f32 softmax against f64 (as webgpu-backend.test.ts). */
const WEIGHT_TOL = { abs: 1e-6, rel: 1e-5 };
/**
 * f16 weights against the f32 oracle: each weight is rounded to 11 significant bits (relative error
 * ≤ 2^-11 ≈ 4.9e-4); along a dot product the roundings partly cancel, so the output moves by well under
 * 4× that relative to its norm. 2e-3 is the bound promised in GpuMoEBlockWeights.weightDtype.
 */
const F16_REL = 2e-3;
/**
 * f16 weights against the oracle run on the same f16-rounded weights: only the f32 accumulation differs,
 * so the f32 bound holds — this is what shows the kernels accumulate in f32, not f16.
 */
const F16_ROUNDED_REL = OUTPUT_REL;
/**
 * int8 weights against the f32 oracle: each weight moves by up to amax/254 of its block; the bound the
 * wasm path documents and tests (wasm-experts-dtype.test.ts), since both store the same q · scale.
 */
const INT8_REL = 4e-2;
/** int8 weights against the oracle run on the same q · scale weights: only f32 accumulation differs. */
const INT8_ROUNDED_REL = OUTPUT_REL;
/** erf_approx (gpu/activation.wgsl, Abramowitz & Stegun 7.1.26): its promised absolute error. */
const ERF_ABS = 1e-6;

/** Worst max|got − want| / ‖want‖∞ seen per check, printed after the suite to show the margin to each bound. */
const worst = new Map<string, { ratio: number; where: string }>();
function track(check: string, where: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  let norm = 1e-6;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    norm = Math.max(norm, Math.abs(want[i]));
    err = Math.max(err, Math.abs(got[i] - want[i]));
  }
  const ratio = err / norm;
  if (ratio >= (worst.get(check)?.ratio ?? -1)) worst.set(check, { ratio, where });
}

const { device, reason } = await dawnDeviceFor('webgpu-experts');

function uniform(n: number, r: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

const ACTIVATIONS: Activation[] = ['swiglu', 'geglu', 'swiglu-oai', 'gelu', 'relu', 'silu'];

/** Experts ~ U(−1, 1)/√fan-in, so activations are O(1) — except swiglu-oai, scaled up until its clamps bite. */
function makeExperts(r: () => number, activation: Activation, nExpert: number, dModel: number, dFF: number, bias: boolean): ExpertWeights {
  const s = activation === 'swiglu-oai' ? 12 : 1;
  const gated = isGated(activation);
  return {
    nExpert, dModel, dFF, activation,
    // Non-default α and limit, so the uniforms are seen to arrive.
    alpha: activation === 'swiglu-oai' ? 1.5 : undefined,
    limit: activation === 'swiglu-oai' ? 6 : undefined,
    gate: gated ? uniform(nExpert * dFF * dModel, r, s / Math.sqrt(dModel)) : new Float32Array(0),
    up: uniform(nExpert * dFF * dModel, r, s / Math.sqrt(dModel)),
    down: uniform(nExpert * dModel * dFF, r, 1 / Math.sqrt(dFF)),
    gateBias: bias && gated ? uniform(nExpert * dFF, r, 0.5) : undefined,
    upBias: bias ? uniform(nExpert * dFF, r, 0.5) : undefined,
    downBias: bias ? uniform(nExpert * dModel, r, 0.5) : undefined,
  };
}

type Shared = 'none' | 'ungated' | 'gated';

/**
 * A routing as Switch, hash or Sinkhorn routers hand over: k distinct experts per token, about a quarter
 * of the slots dropped (−1, weight 0), and token 0 dropped entirely when T > 1 (its routed output is 0).
 */
function givenRouting(r: () => number, nToken: number, nExpert: number, k: number): GpuRouting {
  const indices = new Int32Array(nToken * k);
  const weights = new Float32Array(nToken * k);
  for (let t = 0; t < nToken; t++) {
    const pool = Array.from({ length: nExpert }, (_, e) => e);
    for (let j = 0; j < k; j++) {
      const e = pool.splice(Math.floor(r() * pool.length), 1)[0];
      const dropped = (t === 0 && nToken > 1) || r() < 0.25;
      indices[t * k + j] = dropped ? -1 : e;
      weights[t * k + j] = dropped ? 0 : 0.1 + r();
    }
  }
  return { indices, weights, nExpertUsed: k };
}

/** y = expert(x) for one token, straight from ExpertWeights' definition in f64 (the dense shared expert). */
function denseExpert(w: ExpertWeights, x: Float32Array, xBase: number, y: Float64Array): void {
  const { dModel: d, dFF } = w;
  const act = w.activation ?? 'swiglu';
  const gated = isGated(act);
  const h = new Float64Array(dFF);
  for (let f = 0; f < dFF; f++) {
    let g = w.gateBias?.[f] ?? 0;
    let u = w.upBias?.[f] ?? 0;
    for (let i = 0; i < d; i++) {
      if (gated) g += w.gate[f * d + i] * x[xBase + i];
      u += w.up[f * d + i] * x[xBase + i];
    }
    h[f] = activate(act, g, u, w.alpha ?? 1.702, w.limit ?? 7);
  }
  for (let o = 0; o < d; o++) {
    let acc = w.downBias?.[o] ?? 0;
    for (let f = 0; f < dFF; f++) acc += w.down[o * dFF + f] * h[f];
    y[o] = acc;
  }
}

/** routed (the oracle's runExperts over the plan) + (gate ? σ(x·gate) : 1) · shared(x), summed in f64. */
function expected(w: GpuMoEBlockWeights, hidden: Float32Array, nToken: number, plan: DispatchPlan): Float32Array {
  const d = w.experts.dModel;
  const routed = ref.runExperts(ref.prepareExperts(w.experts), hidden, nToken, plan);
  if (!w.shared) return routed;
  const out = new Float32Array(nToken * d);
  const y = new Float64Array(d);
  for (let t = 0; t < nToken; t++) {
    denseExpert(w.shared.experts, hidden, t * d, y);
    let z = 0;
    if (w.shared.gate) for (let i = 0; i < d; i++) z += hidden[t * d + i] * w.shared.gate[i];
    const s = w.shared.gate ? 1 / (1 + Math.exp(-z)) : 1;
    for (let o = 0; o < d; o++) out[t * d + o] = routed[t * d + o] + s * y[o];
  }
  return out;
}

/**
 * The plan the oracle runs for a stored-weights case: from the given routing (k = 3), or from the f32
 * router on the oracle's side, whose ids the block must have chosen too.
 */
function oraclePlan(name: string, w: GpuMoEBlockWeights, hidden: Float32Array, T: number, routing: GpuRouting | undefined,
  gotIndices: Int32Array): DispatchPlan {
  if (routing) return ref.buildPlan(routing.indices, routing.weights, T, 3, E);
  const d = w.experts.dModel;
  const logits = ref.routerLogits({ hidden, weight: w.routerWeight!, bias: w.routerBias, nToken: T, dModel: d, nExpert: E });
  const sel = ref.topKSoftmax({ logits, nToken: T, nExpert: E, nExpertUsed: K, normalize: w.normalize!, scale: w.scale! });
  expectExact(`${name} indices`, gotIndices, sel.indices);
  return ref.buildPlan(sel.indices, sel.weights, T, K, E);
}

/** Stored weights: within `bound` of the f32 oracle and within `roundedBound` of the oracle on the rounded weights. */
function expectStored(dtype: string, name: string, got: Float32Array, want32: Float32Array, wantRounded: Float32Array,
  bound: number, roundedBound: number): void {
  track(`${dtype} vs f32 oracle (bound ${bound})`, name, got, want32);
  track(`${dtype} vs ${dtype}-rounded oracle (bound ${roundedBound})`, name, got, wantRounded);
  expectRelativeToNorm(`${name} vs f32 oracle`, got, want32, bound);
  expectRelativeToNorm(`${name} vs ${dtype}-rounded oracle`, got, wantRounded, roundedBound);
}

interface ExpertCase {
  seed: number;
  activation: Activation;
  bias: boolean;
  shared: Shared;
  given: boolean;
}

const E = 5;
const K = 2;
/** Odd sizes, off the GEMM tiles and the vec4 layout; the shared expert has its own dFF (as Qwen2-MoE's). */
const D_MODEL = 13;
const D_FF = 19;
const D_FF_SHARED = 45;
const TOKENS = [1, 7, 64];

function makeCase(c: ExpertCase) {
  const r = rng(c.seed);
  const w: GpuMoEBlockWeights = {
    routerWeight: c.given ? undefined : uniform(E * D_MODEL, r, 2 / Math.sqrt(D_MODEL)),
    routerBias: c.given ? undefined : uniform(E, r, 0.5),
    experts: makeExperts(r, c.activation, E, D_MODEL, D_FF, c.bias),
    nExpertUsed: K,
    normalize: c.seed % 2 === 0,
    scale: 1.25,
    shared: c.shared === 'none' ? undefined : {
      experts: makeExperts(r, c.activation, 1, D_MODEL, D_FF_SHARED, c.bias),
      gate: c.shared === 'gated' ? uniform(D_MODEL, r, 2 / Math.sqrt(D_MODEL)) : undefined,
    },
  };
  const hidden = uniform(Math.max(...TOKENS) * D_MODEL, r);
  // Given routings use k = 3, unlike the block's k = 2: k is per call.
  const routings = new Map(TOKENS.map((T) => [T, givenRouting(r, T, E, 3)]));
  return { w, hidden, routings };
}

const caseName = (c: ExpertCase, T: number) =>
  `seed=${c.seed} ${c.activation}${c.bias ? ' +bias' : ''} shared=${c.shared} routing=${c.given ? 'given' : 'computed'} T=${T} ` +
  `E=${E} d=${D_MODEL} dFF=${D_FF}`;

describe.skipIf(!device)(`WebGPU expert functions on ${device ? deviceDescription(device) : 'no adapter'}`, () => {
  const backends: WebGpuBackend[] = [];
  const backend = async (options: { maxBindingBytes?: number; matvecMaxTokens?: number }, on = device!) => {
    const b = await WebGpuBackend.create(on, options);
    backends.push(b);
    return b;
  };
  afterEach(() => backends.splice(0).forEach((b) => b.destroy()));
  afterAll(() => {
    for (const [check, { ratio, where }] of worst) console.log(`webgpu-experts worst ${check}: ${ratio.toExponential(2)} at ${where}`);
  });

  const cases: ExpertCase[] = [];
  let seed = 4000;
  for (const activation of ACTIVATIONS) {
    for (const bias of [false, true]) {
      for (const shared of ['none', 'ungated', 'gated'] as const) {
        for (const given of [false, true]) cases.push({ seed: seed++, activation, bias, shared, given });
      }
    }
  }

  it(`matches the oracle on ${cases.length} blocks × T ∈ {${TOKENS}} × {GEMM, mat-vec}`, async () => {
    const paths = [['gemm', await backend({ matvecMaxTokens: 0 })], ['matvec', await backend({ matvecMaxTokens: 64 })]] as const;
    for (const c of cases) {
      const { w, hidden, routings } = makeCase(c);
      for (const [path, gpu] of paths) {
        const block = gpu.prepareBlock(w);
        expect(block.weightDtype).toBe('f32');
        for (const T of TOKENS) {
          const name = `${caseName(c, T)} ${path}`;
          const routing = c.given ? routings.get(T)! : undefined;
          const got = await block.forward(hidden, T, { routing, plan: true });
          let plan: DispatchPlan;
          if (routing) {
            plan = ref.buildPlan(routing.indices, routing.weights, T, routing.nExpertUsed, E);
            expect(got.logits.length, `${name} logits`).toBe(0);
            expectExact(`${name} indices`, got.indices, routing.indices);
          } else {
            const logits = ref.routerLogits({ hidden, weight: w.routerWeight!, bias: w.routerBias, nToken: T, dModel: D_MODEL, nExpert: E });
            const sel = ref.topKSoftmax({ logits, nToken: T, nExpert: E, nExpertUsed: K, normalize: w.normalize!, scale: w.scale! });
            expectExact(`${name} indices`, got.indices, sel.indices);
            expectClose(`${name} weights`, got.weights, sel.weights, WEIGHT_TOL);
            plan = ref.buildPlan(sel.indices, sel.weights, T, K, E);
          }
          // The device plan is the reference's counting sort exactly, dropped slots left out.
          expectExact(`${name} plan.offsets`, got.plan!.offsets, plan.offsets);
          expectExact(`${name} plan.rows`, got.plan!.rows, plan.rows);
          expectExact(`${name} plan.slots`, got.plan!.slots, plan.slots);
          const want = expected(w, hidden, T, plan);
          track(`f32 output (bound ${OUTPUT_REL})`, name, got.output, want);
          expectRelativeToNorm(`${name} output`, got.output, want, OUTPUT_REL);
          if (routing && !w.shared && T > 1) {
            // Token 0 lost every slot (Switch's dropped token): its output is exactly 0.
            expectExact(`${name} dropped token`, got.output.subarray(0, D_MODEL), new Float32Array(D_MODEL));
          }
        }
        block.destroy();
      }
    }
  });

  it(`computes gelu with |erf error| ≤ ${ERF_ABS} (Abramowitz & Stegun 7.1.26), GEMM and mat-vec`, async () => {
    // Identity up and down projections: h = gelu(x) and y = h pass through exact f32 products, so the
    // output is the kernel's gelu itself; erf(x/√2) = 2·gelu(x)/x − 1 recovers the approximation.
    const n = 61;
    const eye = new Float32Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 1;
    const experts: ExpertWeights = { nExpert: 1, dModel: n, dFF: n, activation: 'gelu', gate: new Float32Array(0), up: eye, down: eye };
    const T = 4;
    const x = new Float32Array(T * n);
    for (let i = 0; i < x.length; i++) x[i] = -6 + (12 * i) / (x.length - 1);
    x.set([0, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 2, -2, 3.5, -3.5], 0);
    const routing: GpuRouting = { indices: new Int32Array(T), weights: new Float32Array(T).fill(1), nExpertUsed: 1 };
    for (const matvecMaxTokens of [0, T]) {
      const got = (await (await backend({ matvecMaxTokens })).prepareBlock({ experts }).forward(x, T, { routing })).output;
      let worstErf = 0;
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        if (Math.abs(v) >= 0.25) {
          // The recovered erf also carries out's rounding, magnified by 2/|x| ≤ 8: 8 · 2^-24 · |out| ≪ 1e-6.
          const erfGot = (2 * got[i]) / v - 1;
          worstErf = Math.max(worstErf, Math.abs(erfGot - erf(v / Math.SQRT2)));
        } else {
          // Near 0 gelu ≈ x/2: compare gelu itself, whose error is ½|x|·|erf error| + rounding.
          expect(Math.abs(got[i] - gelu(v)), `gelu(${v})`).toBeLessThanOrEqual(0.5 * Math.abs(v) * ERF_ABS + 1e-8);
        }
      }
      worst.set(`|erf error| (bound ${ERF_ABS}) matvecMaxTokens=${matvecMaxTokens}`, { ratio: worstErf, where: 'x ∈ [−6, 6]' });
      expect(worstErf, `max |erf error|, matvecMaxTokens=${matvecMaxTokens}`).toBeLessThanOrEqual(ERF_ABS);
    }
  });

  it('splits biased, shared experts across buffers under a small limit without changing a bit', async () => {
    const c: ExpertCase = { seed: 77, activation: 'geglu', bias: true, shared: 'gated', given: false };
    const { w, hidden } = makeCase(c);
    // The shared expert ([45, 13] floats) just fits; the routed experts ([19, 13]) go 2 + 2 + 1 per buffer.
    const limit = D_FF_SHARED * D_MODEL * 4;
    for (const matvecMaxTokens of [0, 64]) {
      const whole = await (await backend({ matvecMaxTokens })).prepareBlock(w).forward(hidden, 64);
      const split = await (await backend({ maxBindingBytes: limit, matvecMaxTokens })).prepareBlock(w).forward(hidden, 64);
      expectExact(`split output matvecMaxTokens=${matvecMaxTokens}`, split.output, whole.output);
    }
    const tooSmall = await backend({ maxBindingBytes: limit - 4 });
    expect(() => tooSmall.prepareBlock(w)).toThrowError(expect.objectContaining({ code: 'limits' }));
  });

  // Runs on every adapter (in CI nothing skips): without shader-f16 the same cases check the f32 fallback.
  const hasF16 = device?.features.has('shader-f16') ?? false;
  if (device && !hasF16) console.warn('webgpu-experts: the adapter lacks shader-f16; the f16 cases check the f32 fallback');
  it(`stores f16 weights: ≤ ${F16_REL} of the f32 oracle, ≤ ${F16_ROUNDED_REL} of the oracle on f16-rounded weights`, async () => {
    const roundF16 = (a: Float32Array | undefined) =>
      a && toFloat32({ dtype: 'f16', shape: [a.length], data: f32ToF16(a) }, 'test');
    const roundExperts = (x: ExpertWeights): ExpertWeights => ({ ...x, gate: roundF16(x.gate)!, up: roundF16(x.up)!, down: roundF16(x.down)! });
    const paths = [await backend({ matvecMaxTokens: 0 }), await backend({ matvecMaxTokens: 64 })];
    for (const [i, activation] of (['swiglu', 'gelu', 'swiglu-oai'] as const).entries()) {
      const c: ExpertCase = { seed: 90 + i, activation, bias: true, shared: i === 1 ? 'ungated' : 'gated', given: i === 2 };
      const { w, hidden, routings } = makeCase(c);
      const w16: GpuMoEBlockWeights = { ...w, weightDtype: 'f16' };
      const rounded: GpuMoEBlockWeights = { ...w, experts: roundExperts(w.experts), shared: w.shared && { ...w.shared, experts: roundExperts(w.shared.experts) } };
      for (const [p, gpu] of paths.entries()) {
        const block = gpu.prepareBlock(w16);
        expect(block.weightDtype).toBe(hasF16 ? 'f16' : 'f32');
        for (const T of TOKENS) {
          const name = `${caseName(c, T)} f16 ${p === 0 ? 'gemm' : 'matvec'}`;
          const routing = c.given ? routings.get(T)! : undefined;
          const got = await block.forward(hidden, T, { routing });
          // The router is f32 in both, so the plan comes from the f32 oracle (ids compared exactly).
          const plan = oraclePlan(name, w, hidden, T, routing, got.indices);
          const want16 = expected(hasF16 ? rounded : w, hidden, T, plan);
          expectStored('f16', name, got.output, expected(w, hidden, T, plan), want16, F16_REL, F16_ROUNDED_REL);
        }
        block.destroy();
      }
    }
    // Splits count the stored bytes: [19, 13] f16 weights go two experts per f32 expert's bytes.
    const { w, hidden } = makeCase({ seed: 95, activation: 'relu', bias: true, shared: 'none', given: false });
    const whole = await paths[0].prepareBlock({ ...w, weightDtype: 'f16' }).forward(hidden, 64);
    const split = await (await backend({ maxBindingBytes: D_FF * D_MODEL * 4, matvecMaxTokens: 0 })).prepareBlock({ ...w, weightDtype: 'f16' }).forward(hidden, 64);
    expectExact('f16 split output', split.output, whole.output);
    if (hasF16) {
      const huge = { ...w, weightDtype: 'f16' as const, experts: { ...w.experts, up: w.experts.up.map((v, j) => (j === 5 ? 1e6 : v)) } };
      expect(() => paths[0].prepareBlock(huge)).toThrowError(expect.objectContaining({ code: 'range' }));
    }
  });

  it(`stores int8 weights: ≤ ${INT8_REL} of the f32 oracle, ≤ ${INT8_ROUNDED_REL} of the oracle on int8-rounded weights`, async () => {
    const roundExperts = (x: ExpertWeights): ExpertWeights => ({
      ...x, gate: isGated(x.activation) ? int8RoundTrip(x.gate, x.dModel) : x.gate,
      up: int8RoundTrip(x.up, x.dModel), down: int8RoundTrip(x.down, x.dFF),
    });
    const paths = [await backend({ matvecMaxTokens: 0 }), await backend({ matvecMaxTokens: 64 })];
    // Rows of 13 and 19 (one padded block, scalar x loads), the shared expert's 45 (two), and a vec4 case
    // of rows 72 and 40 (whole and partial blocks).
    const cases = (['swiglu', 'gelu', 'swiglu-oai'] as const).map((activation, i) => {
      const c: ExpertCase = { seed: 190 + i, activation, bias: true, shared: i === 1 ? 'ungated' : 'gated', given: i === 2 };
      return { name: (T: number) => caseName(c, T), c, ...makeCase(c) };
    });
    const r = rng(199);
    const wide: GpuMoEBlockWeights = {
      routerWeight: uniform(E * 72, r, 2 / Math.sqrt(72)), experts: makeExperts(r, 'geglu', E, 72, 40, true),
      nExpertUsed: K, normalize: true, scale: 1,
    };
    cases.push({
      name: (T) => `seed=199 geglu +bias d=72 dFF=40 T=${T}`, c: { seed: 199, activation: 'geglu', bias: true, shared: 'none', given: false },
      w: wide, hidden: uniform(64 * 72, r), routings: new Map(),
    });
    for (const { name: caseAt, c, w, hidden, routings } of cases) {
      const d = w.experts.dModel;
      const w8: GpuMoEBlockWeights = { ...w, weightDtype: 'int8' };
      const rounded: GpuMoEBlockWeights = { ...w, experts: roundExperts(w.experts), shared: w.shared && { ...w.shared, experts: roundExperts(w.shared.experts) } };
      for (const [p, gpu] of paths.entries()) {
        const block = gpu.prepareBlock(w8);
        expect(block.weightDtype).toBe('int8');
        for (const T of TOKENS) {
          const name = `${caseAt(T)} int8 ${p === 0 ? 'gemm' : 'matvec'}`;
          const routing = c.given ? routings.get(T)! : undefined;
          const got = await block.forward(hidden.subarray(0, T * d), T, { routing });
          const plan = oraclePlan(name, w, hidden, T, routing, got.indices);
          expectStored('int8', name, got.output, expected(w, hidden, T, plan), expected(rounded, hidden, T, plan), INT8_REL, INT8_ROUNDED_REL);
        }
        block.destroy();
      }
    }
    // Splits count the stored bytes: one expert's padded blocks per binding.
    const { w, hidden } = makeCase({ seed: 195, activation: 'relu', bias: true, shared: 'none', given: false });
    const whole = await paths[0].prepareBlock({ ...w, weightDtype: 'int8' }).forward(hidden, 64);
    const limit = Math.max(q8RowBytes(D_FF, D_MODEL), q8RowBytes(D_MODEL, D_FF));
    const split = await (await backend({ maxBindingBytes: limit, matvecMaxTokens: 0 })).prepareBlock({ ...w, weightDtype: 'int8' }).forward(hidden, 64);
    expectExact('int8 split output', split.output, whole.output);
  });

  it('stores the same f16 and int8 weights whether the WASM backend or TypeScript converts them, and createMoE uses the WASM one', async () => {
    const wasm = await wasmPath({});
    const writer = wasm.weightWriter!;
    expect(writer).toBeDefined();
    const gpu = await backend({ matvecMaxTokens: 0 });
    const { w, hidden } = makeCase({ seed: 93, activation: 'swiglu', bias: true, shared: 'gated', given: false });
    for (const weightDtype of ['f16', 'int8'] as const) {
      const typescript = gpu.prepareBlock({ ...w, weightDtype });
      const module = gpu.prepareBlock({ ...w, weightDtype, weightWriter: writer });
      expectExact(`${weightDtype} output`, (await module.forward(hidden, 64)).output, (await typescript.forward(hidden, 64)).output);
      typescript.destroy();
      module.destroy();
    }
    // createMoE hands the GPU block its CPU path's writer (the cached backend wasmPath returns to it too).
    const q8Rows = vi.spyOn(writer, 'q8Rows');
    try {
      const e = w.experts;
      const moe = await createMoE(
        { dModel: D_MODEL, router: { kind: 'topk', numExperts: E, topK: K }, expert: { dFF: D_FF, activation: 'swiglu' } },
        { 'router.weight': w.routerWeight!, 'experts.gate': e.gate, 'experts.up': e.up, 'experts.down': e.down },
        { backend: 'webgpu', device, weightDtype: 'int8' },
      );
      expect(q8Rows.mock.calls.map((c) => [c[1], c[2]])).toEqual([[E * D_FF, D_MODEL], [E * D_FF, D_MODEL], [E * D_MODEL, D_FF]]);
      moe.destroy();
    } finally {
      q8Rows.mockRestore();
    }
  });

  it('reads projections a checkpoint keeps quantised by rows, never asking for their arrays', async () => {
    const gpu = await backend({ maxBindingBytes: 2 * D_FF * D_MODEL * 4, matvecMaxTokens: 0 });
    const { w, hidden } = makeCase({ seed: 94, activation: 'swiglu', bias: true, shared: 'none', given: false });
    // The same experts, their projections behind readers (ExpertWeights.rows) and arrays that must not be read.
    const deferred = { ...w.experts, rows: {} as NonNullable<ExpertWeights['rows']> };
    for (const [what, cols] of [['gate', D_MODEL], ['up', D_MODEL], ['down', D_FF]] as const) {
      const a = w.experts[what];
      deferred.rows[what] = (r0, r1, out, at) => out.set(a.subarray(r0 * cols, r1 * cols), at);
      Object.defineProperty(deferred, what, { get: () => { throw new Error(`experts.${what} read whole`); } });
    }
    for (const weightDtype of ['f32', 'f16', 'int8'] as const) {
      const plain = gpu.prepareBlock({ ...w, weightDtype });
      const byRows = gpu.prepareBlock({ ...w, experts: deferred, weightDtype });
      expectExact(`${weightDtype} output`, (await byRows.forward(hidden, 64)).output, (await plain.forward(hidden, 64)).output);
      plain.destroy();
      byRows.destroy();
    }
  });

  it("falls back to f32 weights on a device without shader-f16, and says so", async () => {
    const adapter = await (await getGpu())!.requestAdapter();
    const plain = await adapter!.requestDevice();
    expect(plain.features.has('shader-f16')).toBe(false);
    const { w, hidden } = makeCase({ seed: 96, activation: 'silu', bias: true, shared: 'gated', given: false });
    const block = (await backend({}, plain)).prepareBlock({ ...w, weightDtype: 'f16' });
    expect(block.weightDtype).toBe('f32');
    const got = await block.forward(hidden, 7);
    const plan = ref.buildPlan(got.indices, got.weights, 7, K, E);
    expectRelativeToNorm('fallback output', got.output, expected(w, hidden, 7, plan), OUTPUT_REL);
    block.destroy();
    // It still refuses what f16 could not hold, naming the element in the whole tensor (here in the third of
    // three binding groups).
    const split = await backend({ maxBindingBytes: 2 * D_FF * D_MODEL * 4 }, plain);
    const down = w.experts.down.slice();
    down[4 * D_MODEL * D_FF + 3] = -70000;
    expect(() => split.prepareBlock({ ...w, experts: { ...w.experts, down }, weightDtype: 'f16' }))
      .toThrowError(expect.objectContaining({ code: 'range', argument: "weights['experts.down']", message: expect.stringContaining(`at element ${4 * D_MODEL * D_FF + 3}`) }));
    plain.destroy();
  });

  it('names the argument when a block or a routing is malformed', async () => {
    const gpu = await backend({});
    const { w, hidden, routings } = makeCase({ seed: 97, activation: 'relu', bias: false, shared: 'ungated', given: true });
    const block = gpu.prepareBlock(w);
    await expect(block.forward(hidden, 7)).rejects.toThrowError(expect.objectContaining({ code: 'config' }));
    const r = routings.get(7)!;
    const bad = (over: Partial<GpuRouting>) => block.forward(hidden, 7, { routing: { ...r, ...over } });
    await expect(bad({ indices: r.indices.map((e, i) => (i === 4 ? E : e)) })).rejects.toThrowError(/routing\.indices\[4\]/);
    await expect(bad({ weights: r.weights.subarray(1) })).rejects.toThrowError(expect.objectContaining({ code: 'shape' }));
    await expect(bad({ nExpertUsed: 0 })).rejects.toThrowError(expect.objectContaining({ code: 'range' }));
    const twoShared = { ...w, shared: { experts: makeExperts(rng(1), 'relu', 2, D_MODEL, D_FF, false) } };
    expect(() => gpu.prepareBlock(twoShared)).toThrowError(/^shared: expected nExpert 1/);
    const badBias = { ...w, experts: { ...w.experts, downBias: new Float32Array(3) } };
    expect(() => gpu.prepareBlock(badBias)).toThrowError(/experts\.downBias/);
    const badActivation = { ...w, experts: { ...w.experts, activation: 'tanh' as Activation } };
    expect(() => gpu.prepareBlock(badActivation)).toThrowError(expect.objectContaining({ code: 'config' }));
  });
});
