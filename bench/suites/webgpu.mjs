// WebGPU, kept short: the adapter here is Mesa's lavapipe (software Vulkan on the CPU), so these numbers
// say whether the path works and how it compares on the same adapter, not what a GPU would do.
// Cases:
//   FFN M×d×f — a one-expert block (E 1, k 1: every token to the expert with weight 1), i.e. the grouped
//     GEMM path on M rows: switchyard createMoE (webgpu) vs the same SwiGLU FFN as an onnxruntime-web
//     WebGPU graph (MatMul ×3, Sigmoid, Mul ×2) on the same device. Both include upload and read-back.
//   block E8/k2 — a small MoE block on our path alone (no peer runs a MoE op on WebGPU).
import { measure } from '../lib/measure.mjs';
import { acceptSharedViewsInWriteBuffer, dawnDevice } from '../lib/dawn.mjs';
import { encodeModel } from '../lib/onnx.mjs';

const D_MODEL = 512;
const D_FF = 1024;
/** lavapipe: a forward of M = 256 takes ~1 s; a couple of samples are enough. */
const GPU_BUDGET = { time: 100, iterations: 3, warmupTime: 0, warmupIterations: 1 };
const AGREEMENT = 1e-3; // the GPU path's documented bound is 1e-4 of the norm; 1e-3 only catches wrong math

function transpose(m, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

function relativeError(out, ref) {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    err += (out[i] - ref[i]) ** 2;
    norm += ref[i] ** 2;
  }
  return Math.sqrt(err / norm);
}

/** y [M, d] = down · (silu(gate · x) ⊙ (up · x)) as an ONNX graph; weights in the canonical [out, in] layout. */
function ffnModel(gate, up, down) {
  return encodeModel({
    nodes: [
      { op: 'MatMul', inputs: ['X', 'gate_t'], outputs: ['g'] },
      { op: 'MatMul', inputs: ['X', 'up_t'], outputs: ['u'] },
      { op: 'Sigmoid', inputs: ['g'], outputs: ['sg'] },
      { op: 'Mul', inputs: ['g', 'sg'], outputs: ['silu'] },
      { op: 'Mul', inputs: ['silu', 'u'], outputs: ['h'] },
      { op: 'MatMul', inputs: ['h', 'down_t'], outputs: ['Y'] },
    ],
    inputs: [{ name: 'X', dims: ['M', D_MODEL] }],
    outputs: [{ name: 'Y', dims: ['M', D_MODEL] }],
    initializers: [
      { name: 'gate_t', dims: [D_MODEL, D_FF], data: transpose(gate, D_FF, D_MODEL) },
      { name: 'up_t', dims: [D_MODEL, D_FF], data: transpose(up, D_FF, D_MODEL) },
      { name: 'down_t', dims: [D_FF, D_MODEL], data: transpose(down, D_MODEL, D_FF) },
    ],
    opsets: [{ domain: '', version: 17 }],
  });
}

export async function webgpuSuite(ctx) {
  const trace = (what) => process.env.BENCH_DEBUG && console.error(`[webgpu ${performance.now().toFixed(0)} ms] ${what}`);
  const { internals, dist, quick, add, skip } = ctx;
  const { device, gpu, adapterName } = await dawnDevice();
  const random = internals.rng(0x6e6e);
  const n = (count, std) => internals.normal(random, count, std);
  const gate = n(D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL));
  const up = n(D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL));
  const down = n(D_MODEL * D_FF, 1 / Math.sqrt(D_FF));
  const ms = quick ? [64] : [1, 64, 256];
  const backend = `webgpu (${adapterName})`;

  const ffnConfig = { dModel: D_MODEL, router: { kind: 'topk', numExperts: 1, topK: 1, normalize: true }, expert: { dFF: D_FF, activation: 'swiglu' } };
  const ffnWeights = { 'router.weight': n(D_MODEL, 0.1), 'experts.gate': gate, 'experts.up': up, 'experts.down': down };
  const ours = await dist.createMoE(ffnConfig, ffnWeights, { backend: 'webgpu', device });
  const reference = await dist.createMoE(ffnConfig, ffnWeights, { backend: 'reference' });
  const inputs = [];
  for (const M of ms) {
    const x = n(M * D_MODEL, 1);
    const caseName = `FFN M${M} d${D_MODEL} f${D_FF}`;
    const expected = (await reference.forward(x, { tokens: M })).output;
    inputs.push({ M, x, caseName, expected, work: { flops: 6 * M * D_MODEL * D_FF } });
    const err = relativeError((await ours.forward(x, { tokens: M })).output, expected);
    if (!(err <= AGREEMENT)) throw new Error(`switchyard webgpu disagrees with the reference on ${caseName}: ${err}`);
    trace(`ours ${caseName} checked`);
    add({ case: caseName, runtime: 'switchyard', backend, variant: `createMoE E1/k1 (${M === 1 ? 'mat-vec' : 'grouped GEMM'})`, ours: true, work: inputs.at(-1).work, ...(await measure(() => ours.forward(x, { tokens: M }), GPU_BUDGET)) });
  }
  ours.destroy();
  reference.destroy();

  const E = 8;
  const k = 2;
  const blockConfig = { dModel: D_MODEL, router: { kind: 'topk', numExperts: E, topK: k, normalize: true }, expert: { dFF: D_FF, activation: 'swiglu' } };
  const block = await dist.createMoE(blockConfig, {
    'router.weight': n(E * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.gate': n(E * D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.up': n(E * D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.down': n(E * D_MODEL * D_FF, 1 / Math.sqrt(D_FF)),
  }, { backend: 'webgpu', device });
  for (const T of quick ? [64] : [1, 64]) {
    const x = n(T * D_MODEL, 1);
    add({
      case: `block E${E}/k${k}/d${D_MODEL}/f${D_FF} T${T}`, runtime: 'switchyard', backend, variant: 'createMoE', ours: true,
      work: { tokens: T, flops: T * k * 6 * D_MODEL * D_FF }, note: 'no peer: no MoE op on WebGPU in the peers',
      ...(await measure(() => block.forward(x, { tokens: T }), GPU_BUDGET)),
    });
  }
  block.destroy();
  trace('block done');

  // The peer last: its first run on this Dawn device stalls for ~35 s (seen with any graph; ours does not),
  // and anything submitted right after its session is created waits as long. The warm-up run absorbs it.
  let session;
  try {
    acceptSharedViewsInWriteBuffer(device);
    Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true });
    const ort = await import('onnxruntime-web/webgpu');
    ort.env.wasm.numThreads = 1;
    ort.env.webgpu.device = device;
    trace('onnxruntime-web loaded');
    session = await ort.InferenceSession.create(ffnModel(gate, up, down), { executionProviders: ['webgpu'] });
    for (const { M, x, caseName, expected, work } of inputs) {
      trace(`peer session ready, ${caseName}`);
      const feeds = { X: new ort.Tensor('float32', x, [M, D_MODEL]) };
      const err = relativeError((await session.run(feeds)).Y.data, expected);
      if (!(err <= AGREEMENT)) throw new Error(`${caseName}: output disagrees with the reference (relative error ${err})`);
      add({ case: caseName, runtime: 'onnxruntime-web', backend, variant: 'MatMul×3 + SwiGLU graph', ours: false, work, ...(await measure(() => session.run(feeds), GPU_BUDGET)) });
    }
  } catch (e) {
    skip('onnxruntime-web WebGPU (FFN graph)', e);
  } finally {
    await session?.release();
  }
}
