// Browser / default entry (dist/switchyard.browser.js): WASM fetched from beside the bundle and compiled
// while it streams; WebGPU is navigator.gpu, the core's default provider.
import { setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, onePerBuild } from './wasm-files.js';

setWasmModuleLoader(
  onePerBuild(async (build) => {
    const url = new URL(`./${WASM_FILES[build]}`, import.meta.url);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`switchyard: fetching ${url} failed: HTTP ${response.status}`);
    // compileStreaming insists on Content-Type application/wasm; servers that send anything else
    // (file servers, some CDNs) still work through the buffered path.
    if (typeof WebAssembly.compileStreaming === 'function' && response.headers.get('content-type')?.startsWith('application/wasm')) {
      return WebAssembly.compileStreaming(response);
    }
    return WebAssembly.compile(await response.arrayBuffer());
  }),
);

export * from '../index.js';
