// The peer runtimes, loaded lazily so a missing one costs only its own rows (printed with the reason).
// Each is configured as a user would for a fair single-thread comparison: constants as initializers
// (so ONNX Runtime may pre-pack them), one intra-op thread unless a row says otherwise.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { matMulModel } from './onnx.mjs';

const require = createRequire(import.meta.url);

/** Installed version of a package, read from its package.json on disk (some do not export it). */
export function versionOf(pkg) {
  try {
    const main = require.resolve(pkg);
    let dir = dirname(main);
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      try {
        const json = require(join(dir, 'package.json'));
        if (json.name === pkg) return json.version;
      } catch { /* keep walking up */ }
    }
  } catch { /* not installed */ }
  return 'not installed';
}

let ortNode;
/** onnxruntime-node (native CPU execution provider). */
export async function loadOrtNode() {
  ortNode ??= import('onnxruntime-node').then((m) => m.default ?? m);
  return ortNode;
}

/** Session options for native ORT on one thread. */
export const ORT_NODE_ONE_THREAD = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };

/** A native ORT MatMul session for C = A · W; returns run(a, M) → Float32Array [M, N]. */
export async function ortNodeMatMul(K, N, w) {
  const ort = await loadOrtNode();
  const session = await ort.InferenceSession.create(matMulModel(K, N, w), ORT_NODE_ONE_THREAD);
  return {
    run: async (a, M) => (await session.run({ A: new ort.Tensor('float32', a, [M, K]) })).C.data,
    release: () => session.release(),
  };
}

/**
 * onnxruntime-web MatMul C = A · W with `threads` WASM threads, in a worker of its own (ort-web-worker.mjs).
 * @returns { version, run(a, M) → Promise<Float32Array [M, N]>, round(M, ms, min) → Promise<ms[]>, close() }
 *   round() times calls of the input last given to run() for that M, inside the worker.
 */
export function openOrtWebMatMul(threads, K, N, w) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./ort-web-worker.mjs', import.meta.url), { workerData: { threads, K, N, w } });
    const pending = new Map();
    let nextId = 0;
    const call = (op, args = {}) => new Promise((res, rej) => {
      const id = nextId++;
      pending.set(id, { res, rej });
      worker.postMessage({ id, op, ...args });
    });
    worker.on('message', (m) => {
      if ('ready' in m) {
        resolve({
          version: m.ready,
          run: async (a, M) => (await call('run', { M, a })).out,
          round: async (M, ms, min) => (await call('round', { M, ms, min })).samples,
          close: async () => {
            await call('close');
            await worker.terminate();
          },
        });
      } else if ('id' in m) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.error) p.rej(new Error(m.error));
        else p.res(m);
      } else {
        worker.terminate();
        reject(new Error(m.error));
      }
    });
    worker.once('error', (e) => {
      for (const p of pending.values()) p.rej(e);
      reject(e);
    });
  });
}

let tfjs;
/** @tensorflow/tfjs-core on the tfjs-backend-wasm backend, one thread (the .wasm files come from node_modules). */
export async function loadTfjsWasm() {
  tfjs ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(`${dist}/`);
    wasm.setThreadsCount(1);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: setBackend("wasm") failed');
    await tf.ready();
    return tf;
  })();
  return tfjs;
}
