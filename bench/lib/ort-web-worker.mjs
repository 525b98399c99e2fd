// onnxruntime-web (wasm backend) in a worker thread. Its thread count is fixed when its WASM first
// initialises, and onnxruntime-common refuses a second copy in the same module graph, so each thread
// count gets its own worker (a fresh module graph).
// The worker times its own calls, so a message's round trip is never counted; the main thread asks for
// one round at a time and runs its own variants in between, as measureInterleaved does for them.
//   workerData: { threads, K, N, w: Float32Array [K, N] }
//   → { ready: version } | { error }
//   in { id, op: 'run', M, a: Float32Array [M, K] }  → { id, out: Float32Array [M, N] }   (keeps a for 'round')
//   in { id, op: 'round', M, ms, min }               → { id, samples: ms[] }  (≥ min calls, ≥ ms in all)
//   in { id, op: 'close' }                            → { id }
import { parentPort, workerData } from 'node:worker_threads';
import { matMulModel } from './onnx.mjs';

async function main() {
  const { threads, K, N, w } = workerData;
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(matMulModel(K, N, w), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = new Map();
  const ops = {
    async run({ M, a }) {
      feeds.set(M, { A: new ort.Tensor('float32', a, [M, K]) });
      return { out: (await session.run(feeds.get(M))).C.data.slice() };
    },
    async round({ M, ms, min }) {
      const feed = feeds.get(M);
      const samples = [];
      const end = performance.now() + ms;
      for (let n = 0; n < min || performance.now() < end; n++) {
        const t0 = performance.now();
        await session.run(feed);
        samples.push(performance.now() - t0);
      }
      return { samples };
    },
    async close() {
      await session.release();
      return {};
    },
  };
  parentPort.on('message', (m) => {
    ops[m.op](m).then(
      (r) => parentPort.postMessage({ id: m.id, ...r }),
      (e) => parentPort.postMessage({ id: m.id, error: String(e?.stack ?? e) }),
    );
  });
  return ort.env.versions.web;
}

main().then(
  (version) => parentPort.postMessage({ ready: version }),
  (e) => parentPort.postMessage({ error: String(e?.stack ?? e) }),
);
