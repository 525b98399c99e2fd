// How much one core's SIMD throughput drops while the other core runs floating-point work. On this VM the
// two vCPUs can land on one physical core's two hardware threads (or otherwise share FP units): the
// bare kernel then falls from ~47 to ~35 GFLOP/s with the other vCPU busy, which caps any 2-thread run of
// an FP-bound kernel near 2 × 35 / 47 ≈ 1.5× its 1-thread time. Printed with each run, so its 2-thread
// rows can be read against the machine they ran on.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadBareGemm, prepareBareGemm } from './wasm-gemm.mjs';

const [M, K, N] = [64, 1024, 512];
const WARM_MS = 1500;
/** Alternating rounds, alone then beside FP work, so both medians span the same phases of the machine. */
const ROUNDS = 6;
const ROUND_MS = 150;

/** A scalar floating-point loop, run while go[0] is 1, until stop[0] is set. */
function spinFp(go, stop) {
  let x = 1.5;
  while (Atomics.load(stop, 0) === 0) {
    if (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 20);
    else for (let i = 0; i < 1e5; i++) x = x * 1.0000001 + 1e-9;
  }
  return x;
}

if (!isMainThread && workerData?.contentionProbe) {
  parentPort.postMessage('started');
  parentPort.postMessage(spinFp(new Int32Array(workerData.go), new Int32Array(workerData.stop)));
}

/** GFLOP/s of the bare kernel over one round. */
function rate(run) {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ROUND_MS) {
    run();
    n++;
  }
  return (2 * M * K * N * n) / (performance.now() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * @param gemmFile the bare GEMM build (lib/build.mjs)
 * @returns { alone, besideFp } median GFLOP/s of the bare kernel (M64 K1024 N512) on this thread, with the
 *   other core idle and with it running a floating-point loop, in alternating rounds; ~3.6 s
 */
export async function probeContention(gemmFile) {
  const g = await loadBareGemm(gemmFile);
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i));
  const gemm = prepareBareGemm(g, b, N, K, M);
  const run = () => gemm.run(a, M);
  // The first second of a process runs slower (start-up work on the other core): warm past it.
  for (const t0 = performance.now(); performance.now() - t0 < WARM_MS;) run();
  const go = new SharedArrayBuffer(4);
  const stop = new SharedArrayBuffer(4);
  const goFlag = new Int32Array(go);
  const worker = new Worker(new URL(import.meta.url), { workerData: { contentionProbe: true, go, stop } });
  try {
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // Let the worker's loop reach its optimised code first: interpreted, it barely loads the core.
    Atomics.store(goFlag, 0, 1);
    Atomics.notify(goFlag, 0);
    rate(run);
    rate(run);
    Atomics.store(goFlag, 0, 0);
    const alone = [];
    const besideFp = [];
    for (let r = 0; r < ROUNDS; r++) {
      alone.push(rate(run));
      Atomics.store(goFlag, 0, 1);
      Atomics.notify(goFlag, 0);
      besideFp.push(rate(run));
      Atomics.store(goFlag, 0, 0);
    }
    return { alone: median(alone), besideFp: median(besideFp) };
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    Atomics.notify(goFlag, 0);
    await worker.terminate();
  }
}
