// Load: weights in memory to a block ready to run — switchyard's createMoE (wasm, 1 thread: packed, and for
// f16 / int8 converted, in the module) and fromHuggingFace from checkpoint layers in bf16, FP8 and MXFP4 (their
// expert projections decoded in the module a few rows at a time as they are packed; the FP8 and MXFP4 bytes
// are random, which the timing does not depend on) — beside onnxruntime-node creating a session
// of its com.microsoft.MoE graph over the same f32 weights (it copies and pre-packs its initializers; the
// ONNX bytes are built once, outside the timing). Throughput: GB/s of the layer's f32 weights. Each timed
// load is destroyed before the next, so a process's second and later loads are measured, with memory its
// allocator has already faulted in, on both sides.
import { measure } from '../lib/measure.mjs';
import { ortNodeMoESession } from '../lib/ort-moe.mjs';
import { uniform } from '../lib/weights.mjs';
import { fp8Checkpoint, mxfp4Checkpoint } from '../lib/quantized-checkpoints.mjs';

const BLOCK = { name: 'E32/k4/d1024/f512', nExpert: 32, k: 4, dModel: 1024, dFF: 512 };

export async function loadSuite(ctx) {
  const { internals, dist, budget, add, skip } = ctx;
  const { name, nExpert: E, k, dModel: d, dFF: f } = BLOCK;
  const random = internals.rng(0x10ad);
  const w = {
    router: uniform(random, E * d, 1 / Math.sqrt(d)),
    gate: uniform(random, E * f * d, 1 / Math.sqrt(d)),
    up: uniform(random, E * f * d, 1 / Math.sqrt(d)),
    down: uniform(random, E * d * f, 1 / Math.sqrt(f)),
  };
  const caseName = `load ${name}`;
  const work = { bytes: 4 * (w.gate.length + w.up.length + w.down.length) };
  const config = { dModel: d, router: { kind: 'topk', numExperts: E, topK: k, normalize: true }, expert: { dFF: f, activation: 'swiglu' } };
  const weights = { 'router.weight': w.router, 'experts.gate': w.gate, 'experts.up': w.up, 'experts.down': w.down };
  const loadAndFree = (make) => async () => (await make()).destroy();
  for (const weightDtype of ['f32', 'f16', 'int8']) {
    const make = () => dist.createMoE(config, weights, { backend: 'wasm', weightDtype });
    add({ case: caseName, runtime: 'switchyard', backend: 'wasm', variant: `createMoE from f32 arrays, ${weightDtype} 1t`, ours: true, work, ...(await measure(loadAndFree(make), budget)) });
  }
  // The same layer as a Mixtral checkpoint stores it: bf16, transformers v5's fused names.
  const bf16 = (a, shape) => ({ dtype: 'bf16', shape, data: internals.f32ToBf16(a) });
  const gateUp = new Float32Array(2 * E * f * d);
  for (let e = 0; e < E; e++) {
    gateUp.set(w.gate.subarray(e * f * d, (e + 1) * f * d), 2 * e * f * d);
    gateUp.set(w.up.subarray(e * f * d, (e + 1) * f * d), (2 * e + 1) * f * d);
  }
  const checkpoint = {
    config: { model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: k },
    tensors: { 'gate.weight': bf16(w.router, [E, d]), 'experts.gate_up_proj': bf16(gateUp, [E, 2 * f, d]), 'experts.down_proj': bf16(w.down, [E, d, f]) },
  };
  for (const weightDtype of ['f32', 'int8']) {
    const make = () => dist.fromHuggingFace(checkpoint, { backend: 'wasm', weightDtype });
    add({ case: caseName, runtime: 'switchyard', backend: 'wasm', variant: `fromHuggingFace bf16 layer, ${weightDtype} 1t`, ours: true, work, ...(await measure(loadAndFree(make), budget)) });
  }
  // On 2 threads the workers start (each load here, since each block is destroyed before the next) and pack beside this one.
  const make2t = () => dist.fromHuggingFace(checkpoint, { backend: 'wasm', weightDtype: 'int8', threads: 2 });
  add({ case: caseName, runtime: 'switchyard', backend: 'wasm', variant: 'fromHuggingFace bf16 layer, int8 2t', ours: true, work, ...(await measure(loadAndFree(make2t), budget)) });
  const quantised = [['FP8 (Qwen3-MoE, 128 × 128 blocks)', fp8Checkpoint], ['MXFP4 (GPT-OSS)', mxfp4Checkpoint]];
  for (const [what, make] of quantised) {
    const layer = make(random, BLOCK, w.router);
    const load = () => dist.fromHuggingFace(layer, { backend: 'wasm', weightDtype: 'int8' });
    add({ case: caseName, runtime: 'switchyard', backend: 'wasm', variant: `fromHuggingFace ${what} layer, int8 1t`, ours: true, work, ...(await measure(loadAndFree(load), budget)) });
  }
  let ort;
  try {
    ort = await ortNodeMoESession({ dModel: d, dFF: f, nExpert: E, k }, w);
  } catch (e) {
    skip('onnxruntime-node com.microsoft.MoE session', e);
    return;
  }
  add({ case: caseName, runtime: 'onnxruntime-node', backend: 'cpu (native)', variant: 'InferenceSession.create (MoE graph) 1t', ours: false, work,
    ...(await measure(async () => (await ort.create()).release(), budget)) });
}
