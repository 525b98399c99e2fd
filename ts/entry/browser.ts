// Browser / default entry (dist/switchyard.browser.js): WASM fetched from beside the bundle and compiled
// while it streams; WebGPU is navigator.gpu, the core's default provider.
import type { WasmBuild } from '../runtime/providers.js';
import { setThreadProvider, setWasmModuleLoader } from '../runtime/providers.js';
import { onePerBuild } from './wasm-files.js';
import { webThreadProvider } from './web-threads.js';
import { besideBundle } from './beside-bundle.js';

// Each file's URL is written out as a literal `new URL('./file', import.meta.url)` (the names of
// wasm-files.ts, checked by test/node/browser-wasm-loading.test.ts) because that is the form bundlers
// (Vite, webpack 5, Parcel) recognise: an app's build then copies exactly these four files. A computed name
// made Vite copy every file beside this bundle — the CLI and the other runtimes' bundles — and broke its dev
// server's dependency pre-bundling.
const WASM_URLS: Readonly<Record<WasmBuild, () => URL>> = {
  'simd128': () => new URL('./switchyard-simd.wasm', import.meta.url),
  'relaxed-simd': () => new URL('./switchyard-relaxed.wasm', import.meta.url),
};
const WASM_THREAD_URLS: Readonly<Record<WasmBuild, () => URL>> = {
  'simd128': () => new URL('./switchyard-simd-threads.wasm', import.meta.url),
  'relaxed-simd': () => new URL('./switchyard-relaxed-threads.wasm', import.meta.url),
};

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

async function compileFrom(url: URL): Promise<WebAssembly.Module> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  // compileStreaming insists on Content-Type application/wasm; servers that send anything else
  // (file servers, some CDNs) still work through the buffered path.
  const type = response.headers.get('content-type');
  if (typeof WebAssembly.compileStreaming === 'function' && type?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(response);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  // Dev servers answer a file they do not have with their HTML page and status 200; name that instead
  // of the compiler's "expected magic word".
  if (!WASM_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new Error(`${url} is not a WebAssembly file (Content-Type ${type ?? 'none'}, ${bytes.length} bytes): ` +
      "the .wasm files were not served beside the bundle (with Vite's dev server, list 'switchyard' in optimizeDeps.exclude)");
  }
  return WebAssembly.compile(bytes);
}

setWasmModuleLoader(onePerBuild(async (build) => compileFrom(besideBundle(WASM_URLS[build]))));
// options.threads > 1: Web Workers over a shared memory (cross-origin-isolated pages, inside a Worker).
setThreadProvider(webThreadProvider(onePerBuild(async (build) => compileFrom(besideBundle(WASM_THREAD_URLS[build])))));

export * from '../index.js';
