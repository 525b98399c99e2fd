// Worker threads for Node (node:worker_threads). The worker source runs as an eval'd CommonJS script: no
// worker file to locate, whether the library runs from dist/, from source (vitest) or from a user's bundle.
// A worker keeps the process alive only while it starts (someone may await its 'ready'); after that it is
// unref'd, so an idle pool never holds a process open — and unref'd again after every later listener,
// since adding a 'message' listener refs the worker's port anew.
import { Worker } from 'node:worker_threads';
import type { ThreadProvider, WasmBuild } from '../runtime/providers.js';

/** The worker's port: parentPort, as the worker source reads it. */
const NODE_PORT = "(() => { const { parentPort } = require('node:worker_threads'); "
  + "return { postMessage: (m) => parentPort.postMessage(m), onMessage: (f) => parentPort.on('message', f) }; })()";

export function nodeThreadProvider(loadModule: (build: WasmBuild) => Promise<WebAssembly.Module>): ThreadProvider {
  return {
    loadModule,
    spawn(source) {
      const worker = new Worker(source(NODE_PORT), { eval: true });
      let started = false;
      const settle = () => {
        started = true;
        worker.unref();
      };
      worker.once('message', settle).once('error', settle);
      const listen = (event: 'message' | 'error', f: (value: unknown) => void) => {
        worker.on(event, f);
        if (started) worker.unref();
      };
      return {
        postMessage: (m) => worker.postMessage(m),
        onMessage: (f) => listen('message', f),
        onError: (f) => listen('error', f),
        terminate: () => void worker.terminate(),
      };
    },
  };
}
