// onnxruntime-web (wasm backend) in a worker thread. Its thread count is fixed when its WASM first
// initialises, and onnxruntime-common refuses a second copy in the same module graph, so each thread
// count gets its own worker (a fresh module graph). The main thread measures nothing while a worker does.
//   in:  { threads, K, N, w: Float32Array [K, N], cases: { M, a: Float32Array [M, K] }[], budget }
//   out: { version, results: { M, median, mean, mad, samples, out: Float32Array [M, N] }[] } | { error }
import { parentPort, workerData } from 'node:worker_threads';
import { matMulModel } from './onnx.mjs';
import { measure } from './measure.mjs';

async function main() {
  const { threads, K, N, w, cases, budget } = workerData;
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(matMulModel(K, N, w), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const results = [];
  for (const { M, a } of cases) {
    const feeds = { A: new ort.Tensor('float32', a, [M, K]) };
    const out = (await session.run(feeds)).C.data.slice();
    const stats = await measure(() => session.run(feeds), budget);
    results.push({ M, ...stats, out });
  }
  await session.release();
  return { version: ort.env.versions.web, results };
}

main().then(
  (r) => parentPort.postMessage(r),
  (e) => parentPort.postMessage({ error: String(e?.stack ?? e) }),
);
