// Deno entry (dist/switchyard.deno.js): WASM read from the .wasm files beside the bundle (needs
// --allow-read); WebGPU is Deno's own navigator.gpu (--unstable-webgpu), the core's default provider.
import { setThreadProvider, setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, WASM_THREAD_FILES, onePerBuild } from './wasm-files.js';
import { webThreadProvider } from './web-threads.js';

declare const Deno: { readFile(path: URL): Promise<Uint8Array<ArrayBuffer>> };

const compileBeside = async (file: string) => WebAssembly.compile(await Deno.readFile(new URL(`./${file}`, import.meta.url)));

setWasmModuleLoader(onePerBuild((build) => compileBeside(WASM_FILES[build])));
// options.threads > 1: Web Workers over a shared memory.
setThreadProvider(webThreadProvider(onePerBuild((build) => compileBeside(WASM_THREAD_FILES[build]))));

export * from '../index.js';
