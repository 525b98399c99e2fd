#!/usr/bin/env node
// WebGPU against its peer in one process, on one device: onnxruntime-web's WebGPU MatMul (the FFN's gate
// GEMM, X [M, d] · W [d, f]) first, then switchyard's whole expert FFN (gate, up, down: three GEMMs) on the
// same Dawn device, then the peer again. Compared by GFLOP/s, since the peer runs one GEMM of our three.
//
// Why a script of its own: inside bench/run.mjs (suites/webgpu.mjs) the peer's first run never finished,
// before or after our kernels had used the device; started here, before anything else, it finishes
// (~40 s of shader compiles on lavapipe) and then runs normally beside ours.
// Usage: node scripts/build.mjs && node bench/webgpu-peer.mjs [M] [--rows]
// --rows: also print one line `SWITCHYARD_PEER_ROWS <json>`, the two rows for bench/suites/webgpu.mjs.
import { acceptSharedViewsInWriteBuffer, dawnDevice } from './lib/dawn.mjs';
import { matMulModel } from './lib/onnx.mjs';

const D_MODEL = 512;
const D_FF = 1024;
const M = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 64);
const RUNS = 7;

const lib = await import('../dist/switchyard.node.js');
const { device, gpu, adapterName } = await dawnDevice();

let seed = 0x9e11;
const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
const randoms = (n, scale) => Float32Array.from({ length: n }, () => uniform() * scale);
const gate = randoms(D_FF * D_MODEL, 2 / Math.sqrt(D_MODEL));
const up = randoms(D_FF * D_MODEL, 2 / Math.sqrt(D_MODEL));
const down = randoms(D_MODEL * D_FF, 2 / Math.sqrt(D_FF));
const x = randoms(M * D_MODEL, 2);
const gateT = new Float32Array(D_MODEL * D_FF); // [d, f]: the MatMul's B
for (let f = 0; f < D_FF; f++) for (let d = 0; d < D_MODEL; d++) gateT[d * D_FF + f] = gate[f * D_MODEL + d];

async function medianMs(run) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[RUNS >> 1];
}

/** Largest |a − b| over the largest |b|. */
function relativeError(a, b) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    norm = Math.max(norm, Math.abs(b[i]));
  }
  return diff / norm;
}

acceptSharedViewsInWriteBuffer(device);
Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true });
const ort = await import('onnxruntime-web/webgpu');
ort.env.wasm.numThreads = 1;
ort.env.webgpu.device = device;
const firstStarted = performance.now();
const session = await ort.InferenceSession.create(matMulModel(D_MODEL, D_FF, gateT), { executionProviders: ['webgpu'] });
const feeds = { A: new ort.Tensor('float32', x, [M, D_MODEL]) };
const peerOut = (await session.run(feeds)).C.data;
const firstMs = performance.now() - firstStarted;
const peerMs = await medianMs(() => session.run(feeds));

const config = { dModel: D_MODEL, router: { kind: 'topk', numExperts: 1, topK: 1 }, expert: { dFF: D_FF, activation: 'swiglu' } };
const weights = { 'router.weight': randoms(D_MODEL, 0.1), 'experts.gate': gate, 'experts.up': up, 'experts.down': down };
const ours = await lib.createMoE(config, weights, { backend: 'webgpu', device });
const reference = await lib.createMoE(config, weights, { backend: 'reference' });
const error = relativeError((await ours.forward(x, { tokens: M })).output, (await reference.forward(x, { tokens: M })).output);
if (!(error < 1e-3)) throw new Error(`switchyard's webgpu FFN disagrees with the reference: ${error}`);
const oursMs = await medianMs(() => ours.forward(x, { tokens: M }));
const peerAgainMs = await medianMs(() => session.run(feeds));

// The peer's output against an f64 product, so a fast wrong answer cannot pass as a result.
const product = new Float64Array(M * D_FF);
for (let m = 0; m < M; m++) {
  for (let f = 0; f < D_FF; f++) {
    let s = 0;
    for (let d = 0; d < D_MODEL; d++) s += x[m * D_MODEL + d] * gate[f * D_MODEL + d];
    product[m * D_FF + f] = s;
  }
}
const peerError = relativeError(peerOut, product);
if (!(peerError < 1e-3)) throw new Error(`onnxruntime-web's MatMul disagrees with an f64 product: ${peerError}`);

const gflops = (flops, ms) => flops / ms / 1e6;
const peerFlops = 2 * M * D_MODEL * D_FF;
const peerBest = Math.min(peerMs, peerAgainMs);
console.log(`adapter: ${adapterName}; M ${M}, d ${D_MODEL}, f ${D_FF}; medians of ${RUNS}`);
console.log(`onnxruntime-web MatMul (1 GEMM):  ${peerMs.toFixed(1)} ms, again after ours ${peerAgainMs.toFixed(1)} ms → ${gflops(peerFlops, peerBest).toFixed(2)} GFLOP/s at best (first run ${(firstMs / 1000).toFixed(1)} s)`);
console.log(`switchyard FFN (3 GEMMs):          ${oursMs.toFixed(1)} ms → ${gflops(3 * peerFlops, oursMs).toFixed(2)} GFLOP/s`);
console.log(`ours / peer, GFLOP/s: ${(gflops(3 * peerFlops, oursMs) / gflops(peerFlops, peerBest)).toFixed(2)}× (against the peer's better median)`);
if (process.argv.includes('--rows')) {
  const caseName = `FFN M${M} d${D_MODEL} f${D_FF}`;
  const backend = `webgpu (${adapterName})`;
  console.log(`SWITCHYARD_PEER_ROWS ${JSON.stringify([
    { case: caseName, runtime: 'onnxruntime-web', backend, variant: 'MatMul (gate GEMM only, 2·M·d·f; own process)', ours: false, work: { flops: peerFlops }, median: peerBest },
    { case: caseName, runtime: 'switchyard', backend, variant: "createMoE E1/k1 (the peer's process)", ours: true, work: { flops: 3 * peerFlops }, median: oursMs },
  ])}`);
}
ours.destroy();
reference.destroy();
await session.release();
process.exit(0);
