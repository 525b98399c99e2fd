// The load's packing on worker threads (ts/backends/wasm-pack-threads.ts, assembly/ffn/pack-item.ts): a backend
// whose workers run when it prepares experts packs them on all its threads, and must pack exactly what one
// thread packs — checked through the experts' outputs, bit for bit — for f32 arrays and for the checkpoint
// encodings the module decodes (bf16, f16, MXFP4, FP8; gate and up in different ones), at f32, f16 and int8, with layers that take several
// chunks and, for the f32 arrays, two batches of copied rows; a weight past the int8 range is refused under its
// own name as on one thread, and the backend still packs and runs afterwards; a thread that may not block packs
// on the workers through prepareExpertsAsync (awaited jobs) and on one thread through prepareExperts; a
// createMoE that fails on its shared expert frees the routed experts it packed, so the workers it started stop.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import { getThreadProvider, type WasmBuild } from '../../ts/runtime/providers.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { resolveMoE } from '../../ts/spec/moe-config.js';
import { f32ToBf16, f32ToF16 } from '../../ts/formats/dtype.js';
import type { CheckpointTensor } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { planWithCounts, randomExperts } from './wasm-experts-cases.js';
import { errorOf } from './error-of.js';
import { buildsUnderTest } from './wasm-builds.js';
// The Node entry registers the WASM loader and the worker_threads provider, as the bundle does.
import { createMoE } from '../../ts/entry/node.js';
import { wasmPath } from '../../ts/api/paths.js';

const FILES: Record<WasmBuild, [string, string]> = {
  simd128: ['switchyard-simd.wasm', 'switchyard-simd-threads.wasm'],
  'relaxed-simd': ['switchyard-relaxed.wasm', 'switchyard-relaxed-threads.wasm'],
};
const compile = (file: string) => WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** The expert weights a checkpoint layer resolves to (its projections deferred, with their bytes). */
function checkpointExperts(config: Record<string, unknown>, tensors: Record<string, CheckpointTensor>): ExpertWeights {
  const canonical = huggingFaceToCanonical({ config, tensors });
  return resolveMoE(canonical.config, canonical.weights).experts;
}

/** Layers in each encoding the module decodes, and as f32 arrays, E experts of [d, f]. */
function layers(seed: number): [string, ExpertWeights][] {
  const next = rng(seed);
  const [E, d, f] = [3, 96, 160];
  const w = (n: number, scale: number) => normal(next, n, scale);
  // Gate, up and down each stored as `dtypes` say: one dtype for all, or a different one each.
  const mixtral = (dtypes: ('bf16' | 'f16' | 'f32')[]) => {
    const t = (dtype: 'bf16' | 'f16' | 'f32', n: number, shape: number[]): CheckpointTensor => {
      const values = w(n, 0.1);
      return dtype === 'f32' ? values : { dtype, shape, data: dtype === 'bf16' ? f32ToBf16(values) : f32ToF16(values) };
    };
    const tensors: Record<string, CheckpointTensor> = { 'gate.weight': w(E * d, 0.1) };
    for (let e = 0; e < E; e++) {
      tensors[`experts.${e}.w1.weight`] = t(dtypes[0], f * d, [f, d]);
      tensors[`experts.${e}.w3.weight`] = t(dtypes[1], f * d, [f, d]);
      tensors[`experts.${e}.w2.weight`] = t(dtypes[2], d * f, [d, f]);
    }
    return checkpointExperts({ model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 }, tensors);
  };
  const bytes = (n: number, lo: number, span: number) => Uint8Array.from({ length: n }, () => lo + Math.floor(next() * span));
  const fp8: Record<string, CheckpointTensor> = { 'gate.weight': w(E * d, 0.1) };
  for (let e = 0; e < E; e++) {
    for (const [name, rows, cols] of [['gate_proj', f, d], ['up_proj', f, d], ['down_proj', d, f]] as const) {
      fp8[`experts.${e}.${name}.weight`] = { dtype: 'f8_e4m3', shape: [rows, cols], data: bytes(rows * cols, 0, 256).map((b) => ((b & 0x7f) === 0x7f ? b ^ 1 : b)) };
      const grid = [Math.ceil(rows / 64), Math.ceil(cols / 64)];
      fp8[`experts.${e}.${name}.weight_scale_inv`] = { dtype: 'f32', shape: grid, data: w(grid[0] * grid[1], 1e-4) };
    }
  }
  const mxfp4: Record<string, CheckpointTensor> = {
    'router.weight': w(E * d, 0.1), 'router.bias': w(E, 0.1), 'experts.gate_up_proj_bias': w(E * 2 * f, 0.1), 'experts.down_proj_bias': w(E * d, 0.1),
    'experts.gate_up_proj_blocks': { dtype: 'u8', shape: [E, 2 * f, d / 32, 16], data: bytes((E * 2 * f * d) / 2, 0, 256) },
    'experts.gate_up_proj_scales': { dtype: 'u8', shape: [E, 2 * f, d / 32], data: bytes((E * 2 * f * d) / 32, 118, 4) },
    'experts.down_proj_blocks': { dtype: 'u8', shape: [E, d, f / 32, 16], data: bytes((E * d * f) / 2, 0, 256) },
    'experts.down_proj_scales': { dtype: 'u8', shape: [E, d, f / 32], data: bytes((E * d * f) / 32, 118, 4) },
  };
  return [
    // 4 · 3 · 512 · 1024 f32: 25 MB of rows, past one batch of copies.
    ['f32 arrays, gated, biases', randomExperts(seed, 'swiglu', 4, 512, 1024, true)],
    ['f32 arrays, ungated', randomExperts(seed + 1, 'gelu', 3, 72, 200, false)],
    ['bf16 (Mixtral)', mixtral(['bf16', 'bf16', 'bf16'])],
    ['f16 (Mixtral)', mixtral(['f16', 'f16', 'f16'])],
    // Gate and up rows of one chunk in different encodings, or one of them f32.
    ['gate bf16, up f16, down f32', mixtral(['bf16', 'f16', 'f32'])],
    ['gate f32, up bf16, down f16', mixtral(['f32', 'bf16', 'f16'])],
    ['FP8 (Qwen3-MoE, 64 × 64 blocks)', checkpointExperts({
      model_type: 'qwen3_moe', hidden_size: d, moe_intermediate_size: f, num_experts: E, num_experts_per_tok: 2, norm_topk_prob: true,
      quantization_config: { quant_method: 'fp8', weight_block_size: [64, 64] },
    }, fp8)],
    ['MXFP4 (GPT-OSS)', checkpointExperts({ model_type: 'gpt_oss', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 }, mxfp4)],
  ];
}

describe.each(buildsUnderTest())('packing on threads, %s build', (build) => {
  let one: Promise<WasmBackend> | undefined;
  let three: Promise<WasmBackend> | undefined;
  const single = () => (one ??= compile(FILES[build][0]).then((m) => createWasmBackend(m)));
  const threaded = () => (three ??= compile(FILES[build][1]).then((m) => createWasmBackend(m, { provider: getThreadProvider()!, threads: 3 })));

  it.each(['f32', 'f16', 'int8'] as const)('%s: packed on 3 threads as on 1, bit for bit', async (dtype) => {
    const [a, b] = await Promise.all([single(), threaded()]);
    for (const [what, w] of layers(40 + ['f32', 'f16', 'int8'].indexOf(dtype))) {
      await b.startThreads(5000);
      const jobs = b.threadedPackJobs;
      const ea = a.prepareExperts(w, dtype);
      const eb = b.prepareExperts(w, dtype);
      expect(b.threadedPackJobs, `${what}: packed on the workers`).toBeGreaterThan(jobs);
      // Every expert gets rows: 1, 2, 3, 4 and 5 rows cover the single-row and tile kernels.
      const counts = Array.from({ length: w.nExpert }, (_, e) => 1 + (e % 5));
      const plan = planWithCounts(8, counts, 7);
      const hidden = normal(rng(9), 8 * w.dModel);
      expect(bits(b.runExperts(eb, hidden, 8, plan)), what).toEqual(bits(a.runExperts(ea, hidden, 8, plan)));
      ea.destroy();
      eb.destroy();
    }
  });

  // A thread that may not block (a page's main thread; set here by the threading option) awaits the jobs.
  let awaiting: Promise<WasmBackend> | undefined;
  const nonBlocking = () => (awaiting ??= compile(FILES[build][1]).then((m) => createWasmBackend(m, { provider: getThreadProvider()!, threads: 3, blocking: false })));

  it.each(['f32', 'int8'] as const)('%s: on a thread that may not block, prepareExpertsAsync packs on the workers, awaited; the same bits', async (dtype) => {
    const [a, b] = await Promise.all([single(), nonBlocking()]);
    for (const [what, w] of layers(60).filter((_, i) => i % 2 === 0)) {
      await b.startThreads(5000);
      const jobs = b.threadedPackJobs;
      const eb = await b.prepareExpertsAsync(w, dtype);
      expect(b.threadedPackJobs, `${what}: packed on the workers`).toBeGreaterThan(jobs);
      // prepareExperts there may not block: one thread.
      const afterAsync = b.threadedPackJobs;
      const again = b.prepareExperts(w, dtype);
      expect(b.threadedPackJobs, `${what}: prepareExperts packed on one thread`).toBe(afterAsync);
      const ea = a.prepareExperts(w, dtype);
      const counts = Array.from({ length: w.nExpert }, (_, e) => 1 + (e % 5));
      const plan = planWithCounts(8, counts, 7);
      const hidden = normal(rng(9), 8 * w.dModel);
      const want = bits(a.runExperts(ea, hidden, 8, plan));
      expect(bits(await b.runExpertsAsync(eb, hidden, 8, plan)), what).toEqual(want);
      expect(bits(await b.runExpertsAsync(again, hidden, 8, plan)), `${what}, packed on one thread`).toEqual(want);
      for (const e of [ea, eb, again]) e.destroy();
    }
  });

  it('int8: a weight past the range is refused under its name, as on one thread; the backend packs on', async () => {
    const [a, b] = await Promise.all([single(), threaded()]);
    const w = randomExperts(3, 'swiglu', 2, 256, 512, false);
    w.down[12345] = 1e9;
    await b.startThreads(5000);
    expect(errorOf(() => b.prepareExperts(w, 'int8'))).toEqual(errorOf(() => a.prepareExperts(w, 'int8')));
    expect(errorOf(() => b.prepareExperts(w, 'int8'))).toEqual(['range', "weights['experts.down']"]);
    w.down[12345] = 0;
    const jobs = b.threadedPackJobs;
    await b.startThreads(5000);
    const eb = b.prepareExperts(w, 'int8');
    expect(b.threadedPackJobs).toBeGreaterThan(jobs);
    const ea = a.prepareExperts(w, 'int8');
    const plan = planWithCounts(4, [3, 4], 5);
    const hidden = normal(rng(6), 4 * 256);
    expect(bits(b.runExperts(eb, hidden, 4, plan))).toEqual(bits(a.runExperts(ea, hidden, 4, plan)));
    ea.destroy();
    eb.destroy();
  });
});

describe('createMoE that fails after packing', () => {
  it('a shared expert past the int8 range: refused, and the packed experts freed (the workers stop)', async () => {
    const [E, d, f] = [2, 64, 96];
    const next = rng(77);
    const weights: Record<string, Float32Array> = {
      'router.weight': normal(next, E * d, 0.1), 'experts.gate': normal(next, E * f * d, 0.1), 'experts.up': normal(next, E * f * d, 0.1),
      'experts.down': normal(next, E * d * f, 0.1), 'shared.gate': normal(next, f * d, 0.1), 'shared.up': normal(next, f * d, 0.1), 'shared.down': normal(next, d * f, 0.1),
    };
    weights['shared.down'][5] = 1e9;
    const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 1 }, expert: { dFF: f, activation: 'swiglu' as const }, shared: { dFF: f, gated: false } };
    const options = { backend: 'wasm' as const, weightDtype: 'int8' as const, threads: 3 };
    await expect(createMoE(config, weights, options)).rejects.toMatchObject({ code: 'range', argument: "weights['shared.down']" });
    const backend = await wasmPath(options);
    expect(backend.activeThreads, 'no experts left, no workers').toBe(1);
    // The backend goes on: a valid block loads and runs on all its threads.
    weights['shared.down'][5] = 0;
    const moe = await createMoE(config, weights, options);
    expect(backend.activeThreads).toBe(3);
    expect((await moe.forward(normal(next, 4 * d), { tokens: 4 })).output.every(Number.isFinite)).toBe(true);
    moe.destroy();
  });
});
