// WebGPU, kept short: the adapter here is Mesa's lavapipe (software Vulkan on the CPU), so these numbers
// say whether the path works and how it compares on the same adapter, not what a GPU would do.
// Cases:
//   FFN M×d×f — a one-expert block (E 1, k 1: every token to the expert with weight 1), i.e. the grouped
//     GEMM path on M rows (6·M·d·f FLOPs): switchyard createMoE (webgpu) vs onnxruntime-web's WebGPU MatMul
//     of the FFN's gate GEMM (2·M·d·f) on the same adapter — in a process of its own, beside our FFN on its
//     device (bench/webgpu-peer.mjs) — compared by GFLOP/s. Both include upload and read-back.
//   block E8/k2 — a small MoE block on our path alone (no peer runs a MoE op on WebGPU).
// SWITCHYARD_PREVIOUS_DIST=<dir> also measures another build's bundle (e.g. the last commit's dist/ in a
// clean worktree) on the same cases and device, in the same run: our rows then carry the ratio to it.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { measure } from '../lib/measure.mjs';
import { dawnDevice } from '../lib/dawn.mjs';

const D_MODEL = 512;
const D_FF = 1024;
/** lavapipe: a forward of M = 256 took ~1 s before the register-tiled GEMMs; five samples keep the median steady. */
const GPU_BUDGET = { time: 100, iterations: 5, warmupTime: 0, warmupIterations: 1 };
// The GPU path's documented bounds are 1e-4 of the norm (f32), 2e-3 (f16), 4e-2 (int8); these only catch wrong math.
const AGREEMENT = { f32: 1e-3, f16: 5e-3, int8: 5e-2 };

function relativeError(out, ref) {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    err += (out[i] - ref[i]) ** 2;
    norm += ref[i] ** 2;
  }
  return Math.sqrt(err / norm);
}

/** The peer's process (bench/webgpu-peer.mjs) may take this long: its first run compiled for 35-105 s here. */
const PEER_PROCESS_LIMIT_MS = 240_000;

export async function webgpuSuite(ctx) {
  const trace = (what) => process.env.BENCH_DEBUG && console.error(`[webgpu ${performance.now().toFixed(0)} ms] ${what}`);
  const { internals, dist, quick, add, skip } = ctx;
  const { device, adapterName } = await dawnDevice();
  const random = internals.rng(0x6e6e);
  const n = (count, std) => internals.normal(random, count, std);
  const gate = n(D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL));
  const up = n(D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL));
  const down = n(D_MODEL * D_FF, 1 / Math.sqrt(D_FF));
  const ms = quick ? [64] : [1, 64, 256];
  const backend = `webgpu (${adapterName})`;

  const ffnConfig = { dModel: D_MODEL, router: { kind: 'topk', numExperts: 1, topK: 1, normalize: true }, expert: { dFF: D_FF, activation: 'swiglu' } };
  const ffnWeights = { 'router.weight': n(D_MODEL, 0.1), 'experts.gate': gate, 'experts.up': up, 'experts.down': down };
  const previousDir = process.env.SWITCHYARD_PREVIOUS_DIST;
  const previous = previousDir && await import(pathToFileURL(join(previousDir, 'switchyard.node.js')).href);
  // Ours and, when asked for, the previous build: each checked against the reference before timing.
  const builds = [{ lib: dist, runtime: 'switchyard', ours: true }, ...(previous ? [{ lib: previous, runtime: 'switchyard (previous build)', ours: false }] : [])];
  const reference = await dist.createMoE(ffnConfig, ffnWeights, { backend: 'reference' });
  const inputs = [];
  for (const M of ms) {
    const x = n(M * D_MODEL, 1);
    const caseName = `FFN M${M} d${D_MODEL} f${D_FF}`;
    const expected = (await reference.forward(x, { tokens: M })).output;
    inputs.push({ M, x, caseName, expected, work: { flops: 6 * M * D_MODEL * D_FF } });
  }
  // Our build also with int8 expert weights (and f16 where the device has shader-f16), each within its format's bound.
  const dtypes = ['f32', 'int8', ...(device.features.has('shader-f16') ? ['f16'] : [])];
  const runs = builds.flatMap((b) => (b.ours ? dtypes : ['f32']).map((weightDtype) => ({ ...b, weightDtype })));
  for (const { lib, runtime, ours, weightDtype } of runs) {
    const moe = await lib.createMoE(ffnConfig, ffnWeights, { backend: 'webgpu', device, weightDtype });
    for (const { M, x, caseName, expected, work } of inputs) {
      const err = relativeError((await moe.forward(x, { tokens: M })).output, expected);
      if (!(err <= AGREEMENT[weightDtype])) throw new Error(`${runtime} webgpu ${weightDtype} disagrees with the reference on ${caseName}: ${err}`);
      trace(`${runtime} ${caseName} ${weightDtype} checked`);
      const variant = `createMoE E1/k1 (${M === 1 ? 'mat-vec' : 'grouped GEMM'})${weightDtype === 'f32' ? '' : ` ${weightDtype} weights`}`;
      add({ case: caseName, runtime, backend, variant, ours, work, ...(await measure(() => moe.forward(x, { tokens: M }), GPU_BUDGET)) });
    }
    moe.destroy();
  }
  reference.destroy();

  const E = 8;
  const k = 2;
  const blockConfig = { dModel: D_MODEL, router: { kind: 'topk', numExperts: E, topK: k, normalize: true }, expert: { dFF: D_FF, activation: 'swiglu' } };
  const blockWeights = {
    'router.weight': n(E * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.gate': n(E * D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.up': n(E * D_FF * D_MODEL, 1 / Math.sqrt(D_MODEL)),
    'experts.down': n(E * D_MODEL * D_FF, 1 / Math.sqrt(D_FF)),
  };
  const blockInputs = (quick ? [64] : [1, 64]).map((T) => ({ T, x: n(T * D_MODEL, 1) }));
  for (const { lib, runtime, ours } of builds) {
    const block = await lib.createMoE(blockConfig, blockWeights, { backend: 'webgpu', device });
    for (const { T, x } of blockInputs) {
      add({
        case: `block E${E}/k${k}/d${D_MODEL}/f${D_FF} T${T}`, runtime, backend, variant: 'createMoE', ours,
        work: { tokens: T, flops: T * k * 6 * D_MODEL * D_FF }, note: ours && !previous ? 'no peer: no MoE op on WebGPU in the peers' : undefined,
        ...(await measure(() => block.forward(x, { tokens: T }), GPU_BUDGET)),
      });
    }
    block.destroy();
  }
  trace('block done');

  // The peer: onnxruntime-web's WebGPU MatMul of the gate GEMM. In this process its first run never
  // finishes (no timer fires, > 280 s), before or after our kernels used the device; started first in a
  // process of its own (bench/webgpu-peer.mjs) it runs, beside our FFN on the same device there.
  // Its first run compiles for ~40 s on lavapipe: part of a full run, left out of --quick unless asked for.
  const peer = process.env.BENCH_WEBGPU_PEER ?? (quick ? '0' : '1');
  if (peer !== '1') {
    skip('onnxruntime-web WebGPU MatMul', `${quick ? 'left out of --quick' : 'BENCH_WEBGPU_PEER=0'} (its first run compiles for ~40 s on lavapipe): set BENCH_WEBGPU_PEER=1, or run node bench/webgpu-peer.mjs [M]`);
    return;
  }
  for (const { M, caseName } of inputs.filter((i) => i.M > 1)) {
    const child = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), '..', 'webgpu-peer.mjs'), String(M), '--rows'], {
      encoding: 'utf8', timeout: PEER_PROCESS_LIMIT_MS,
    });
    const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith('SWITCHYARD_PEER_ROWS '));
    if (!line) {
      skip(`onnxruntime-web WebGPU MatMul, ${caseName}`, child.error ?? `bench/webgpu-peer.mjs ended (status ${child.status}) without rows: ${(child.stderr ?? '').trim().split('\n').pop()}`);
      continue;
    }
    for (const row of JSON.parse(line.slice('SWITCHYARD_PEER_ROWS '.length))) add(row);
  }
}
