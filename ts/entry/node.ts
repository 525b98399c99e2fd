// Node entry (dist/switchyard.node.js): WASM from the .wasm files beside the bundle, WebGPU from the
// optional `webgpu` package (Dawn), which stays external so the bundle loads without it.
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { setGpuProvider, setThreadProvider, setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, WASM_THREAD_FILES, onePerBuild } from './wasm-files.js';

// Defined as `true` by scripts/build.mjs. Undefined when this file runs from source (vitest), where the
// .wasm files are not beside it but in build/wasm/ (asc's output) — or dist/ after a full build.
declare const __SWITCHYARD_BUNDLE__: boolean | undefined;
const bundled = typeof __SWITCHYARD_BUNDLE__ !== 'undefined' && __SWITCHYARD_BUNDLE__;

// readFile's Buffer is typed over ArrayBufferLike; it never is a SharedArrayBuffer, hence the casts.
async function readWasm(file: string): Promise<BufferSource> {
  if (bundled) return (await readFile(new URL(`./${file}`, import.meta.url))) as Uint8Array<ArrayBuffer>;
  const candidates = [new URL(`../../build/wasm/${file}`, import.meta.url), new URL(`../../dist/${file}`, import.meta.url)];
  for (const url of candidates) {
    try {
      return (await readFile(url)) as Uint8Array<ArrayBuffer>;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  }
  throw new Error(`switchyard: ${file} not found in build/wasm/ or dist/ — run \`npm run build\` first`);
}

setWasmModuleLoader(onePerBuild(async (build) => WebAssembly.compile(await readWasm(WASM_FILES[build]))));

// Worker threads run the source as an eval'd CommonJS script: no worker file to locate, from dist/ or
// from source. A worker keeps the process alive only while it starts (someone may await its 'ready');
// after that it is unref'd, so an idle pool never holds a process open — unref'd again after every later
// listener, since adding a 'message' listener refs the worker's port anew.
const NODE_PORT = "(() => { const { parentPort } = require('node:worker_threads'); "
  + "return { postMessage: (m) => parentPort.postMessage(m), onMessage: (f) => parentPort.on('message', f) }; })()";
setThreadProvider({
  loadModule: onePerBuild(async (build) => WebAssembly.compile(await readWasm(WASM_THREAD_FILES[build]))),
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
});

export * from '../index.js';
