// What a second thread can add to an FP-bound kernel right now. On this VM the two vCPUs can land on one
// physical core's two hardware threads (or otherwise share FP units): the bare kernel then falls from ~47 to
// ~35 GFLOP/s with the other vCPU busy. And at times the other vCPU gets little time at all: a kernel on it
// then barely progresses, and a 2-thread run waits for its share (runs here read 0.9-0.96x their 1-thread
// time in such phases). So the probe runs the same bare kernel on both threads and sums their rates: that sum
// over the rate alone caps what any 2-thread run of an FP-bound kernel can gain at the moment. Printed with
// each run, so its 2-thread rows can be read against the machine they ran on.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadBareGemm, prepareBareGemm } from './wasm-gemm.mjs';

const [M, K, N] = [64, 1024, 512];
const WARM_MS = 1500;
/** Alternating rounds, alone then beside the other thread, so both medians span the same phases of the machine. */
const ROUNDS = 6;
const ROUND_MS = 150;

/** The bare kernel on operands like the main thread's (values do not change its speed). */
async function bareKernel(gemmFile) {
  const g = await loadBareGemm(gemmFile);
  const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: N * K }, (_, i) => Math.cos(i));
  const gemm = prepareBareGemm(g, b, N, K, M);
  return () => gemm.run(a, M);
}

if (!isMainThread && workerData?.contentionProbe) {
  // The kernel, run while go[0] is 1 and counted in runs[0], until stop[0] is set.
  const run = await bareKernel(workerData.gemmFile);
  const go = new Int32Array(workerData.go);
  const stop = new Int32Array(workerData.stop);
  const runs = new Int32Array(workerData.runs);
  parentPort.postMessage('started');
  while (Atomics.load(stop, 0) === 0) {
    if (Atomics.load(go, 0) === 0) Atomics.wait(go, 0, 0, 20);
    else {
      run();
      Atomics.add(runs, 0, 1);
    }
  }
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
 * @returns { alone, beside, other, together } median GFLOP/s of the bare kernel (M64 K1024 N512): on this
 *   thread with the other core idle; on this thread while the other runs it too; on the other thread
 *   meanwhile; and the two summed per round. Alternating rounds; ~3.6 s. together / alone is what 2 threads
 *   can gain over 1 now.
 */
export async function probeContention(gemmFile) {
  const run = await bareKernel(gemmFile);
  // The first second of a process runs slower (start-up work on the other core): warm past it.
  for (const t0 = performance.now(); performance.now() - t0 < WARM_MS;) run();
  const go = new SharedArrayBuffer(4);
  const stop = new SharedArrayBuffer(4);
  const runs = new SharedArrayBuffer(4);
  const goFlag = new Int32Array(go);
  const runCount = new Int32Array(runs);
  const worker = new Worker(new URL(import.meta.url), { workerData: { contentionProbe: true, gemmFile, go, stop, runs } });
  const setGo = (v) => {
    Atomics.store(goFlag, 0, v);
    Atomics.notify(goFlag, 0);
  };
  try {
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // Let the worker's kernel reach its optimised code first.
    setGo(1);
    rate(run);
    rate(run);
    setGo(0);
    const alone = [];
    const beside = [];
    const other = [];
    const together = [];
    for (let r = 0; r < ROUNDS; r++) {
      alone.push(rate(run));
      setGo(1);
      const c0 = Atomics.load(runCount, 0);
      const t0 = performance.now();
      beside.push(rate(run));
      other.push((2 * M * K * N * (Atomics.load(runCount, 0) - c0)) / (performance.now() - t0) / 1e6);
      setGo(0);
      together.push(beside[r] + other[r]);
    }
    return { alone: median(alone), beside: median(beside), other: median(other), together: median(together) };
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    setGo(0);
    await worker.terminate();
  }
}
