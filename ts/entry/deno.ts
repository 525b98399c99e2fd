// Deno entry (dist/switchyard.deno.js): WASM read from the .wasm files beside the bundle (needs
// --allow-read); WebGPU is Deno's own navigator.gpu (--unstable-webgpu), the core's default provider.
import { setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, onePerBuild } from './wasm-files.js';

declare const Deno: { readFile(path: URL): Promise<Uint8Array<ArrayBuffer>> };

setWasmModuleLoader(
  onePerBuild(async (build) => WebAssembly.compile(await Deno.readFile(new URL(`./${WASM_FILES[build]}`, import.meta.url)))),
);

export * from '../index.js';
