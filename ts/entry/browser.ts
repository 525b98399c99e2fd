// Browser / default entry (dist/switchyard.browser.js): WASM fetched from beside the bundle and compiled
// while it streams; WebGPU is navigator.gpu, the core's default provider.
import { setThreadProvider, setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, WASM_THREAD_FILES, onePerBuild } from './wasm-files.js';
import { webThreadProvider } from './web-threads.js';

async function compileBeside(file: string): Promise<WebAssembly.Module> {
  const url = new URL(`./${file}`, import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`switchyard: fetching ${url} failed: HTTP ${response.status}`);
  // compileStreaming insists on Content-Type application/wasm; servers that send anything else
  // (file servers, some CDNs) still work through the buffered path.
  if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

setWasmModuleLoader(onePerBuild((build) => compileBeside(WASM_FILES[build])));
// options.threads > 1: Web Workers over a shared memory (cross-origin-isolated pages, inside a Worker).
setThreadProvider(webThreadProvider(onePerBuild((build) => compileBeside(WASM_THREAD_FILES[build]))));

export * from '../index.js';
