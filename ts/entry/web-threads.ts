// Worker threads for runtimes with Web Workers (browsers, Deno): the worker source becomes a module
// worker through a Blob URL, which keeps the page's origin (a data: URL would get an opaque one, and
// with it no SharedArrayBuffer) and inherits a cross-origin-isolated page's COEP, so it shares the
// page's memory with no headers of its own (the Chromium lane runs so). Pages whose CSP forbids blob:
// workers fall back to 1 thread.
import type { ThreadProvider, WasmBuild, WorkerHandle } from '../runtime/providers.js';

/** A Web Worker's view of itself, as the worker source reads it. */
const WEB_PORT =
  "({ postMessage: (m) => self.postMessage(m), onMessage: (f) => self.addEventListener('message', (e) => f(e.data)) })";

export function webThreadProvider(loadModule: (build: WasmBuild) => Promise<WebAssembly.Module>): ThreadProvider {
  return {
    loadModule,
    spawn(source): WorkerHandle {
      const url = URL.createObjectURL(new Blob([source(WEB_PORT)], { type: 'text/javascript' }));
      const worker = new Worker(url, { type: 'module' });
      // Once the worker speaks (or fails) it has loaded its script: the URL is not needed after that.
      const revoke = () => URL.revokeObjectURL(url);
      worker.addEventListener('message', revoke, { once: true });
      worker.addEventListener('error', revoke, { once: true });
      return {
        postMessage: (m) => worker.postMessage(m),
        onMessage: (f) => worker.addEventListener('message', (e) => f((e as MessageEvent).data)),
        onError: (f) => worker.addEventListener('error', (e) => {
          // Handled here: the pool reports it (a worker that does not start means fewer threads).
          e.preventDefault();
          f((e as ErrorEvent).message ?? e);
        }),
        terminate: () => worker.terminate(),
      };
    },
  };
}
