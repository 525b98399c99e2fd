// How fast this machine streams memory from DRAM, on one thread and on two at once. Decode (one row or two
// per expert) is bound by it, not by arithmetic: every call reads its experts' weights once. On this VM the
// two vCPUs together stream between ~1.2× and ~1.9× what one does, and it changes from minute to minute
// (measured here, 14 probes in a row: one thread 21–27 GB/s; two 31–34 GB/s in nine of them, 37.5 in one,
// 43–50 in four — as if the vCPUs sometimes share one core), and a memory-bound run on 2 threads cannot get
// more than that over its 1-thread time, however the work is cut.
// Printed with each run beside the core probe, so the 2-thread rows of memory-bound cases can be read
// against the machine they ran on. Each thread reads its own region of REGION_BYTES, well past any L3 here.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

const REGION_BYTES = 192 << 20;
const CHUNK_BYTES = 4 << 20;
/** Alternating rounds, one thread then two, so both medians span the same phases of the machine. */
const ROUNDS = 5;
const ROUND_MS = 250;

/** A thread's own instance of the stream kernel (bench/wasm/stream.ts) over its own region, every page written once. */
async function streamer(module) {
  const { exports } = await WebAssembly.instantiate(module, {});
  const base = (exports.heapBase() + 63) & ~63;
  const need = base + REGION_BYTES - exports.memory.buffer.byteLength;
  if (need > 0) exports.memory.grow(Math.ceil(need / 65536));
  // Pages never written would all map one zero page, which the cache serves.
  new Uint8Array(exports.memory.buffer, base, REGION_BYTES).fill(1);
  let offset = 0;
  /** GB/s read while keepGoing() holds (checked once per chunk). */
  return (keepGoing) => {
    let bytes = 0;
    const t0 = performance.now();
    while (keepGoing()) {
      exports.stream(base + offset, CHUNK_BYTES);
      bytes += CHUNK_BYTES;
      offset = (offset + CHUNK_BYTES) % REGION_BYTES;
    }
    return bytes / (performance.now() - t0) / 1e6;
  };
}

if (!isMainThread && workerData?.bandwidthProbe) {
  const go = new Int32Array(workerData.go);
  const run = await streamer(workerData.module);
  parentPort.postMessage('ready');
  for (;;) {
    Atomics.wait(go, 0, 0);
    if (Atomics.load(go, 0) === 2) break;
    parentPort.postMessage(run(() => Atomics.load(go, 0) === 1));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const forMs = (ms) => {
  const end = performance.now() + ms;
  return () => performance.now() < end;
};

/**
 * @param streamFile the stream kernel's build (lib/build.mjs)
 * @returns { oneThread, twoThreads } median GB/s read from DRAM by this thread alone and by this thread and
 *   a worker together (their sum), in alternating rounds; ~3 s
 */
export async function probeBandwidth(streamFile) {
  const module = await WebAssembly.compile(readFileSync(streamFile));
  const run = await streamer(module);
  const goBuffer = new SharedArrayBuffer(4);
  const go = new Int32Array(goBuffer);
  const worker = new Worker(new URL(import.meta.url), { workerData: { bandwidthProbe: true, module, go: goBuffer } });
  const next = () => new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const signal = (value) => {
    Atomics.store(go, 0, value);
    Atomics.notify(go, 0);
  };
  try {
    await next();
    run(forMs(ROUND_MS));
    const one = [];
    const two = [];
    for (let r = 0; r < ROUNDS; r++) {
      one.push(run(forMs(ROUND_MS)));
      const theirs = next();
      signal(1);
      const mine = run(forMs(ROUND_MS));
      signal(0);
      two.push(mine + (await theirs));
    }
    return { oneThread: median(one), twoThreads: median(two) };
  } finally {
    signal(2);
    await worker.terminate();
  }
}
