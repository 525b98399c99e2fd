// Node entry (dist/switchyard.node.js): WASM from the .wasm files beside the bundle, WebGPU from the
// optional `webgpu` package (Dawn), which stays external so the bundle loads without it.
import { readFile } from 'node:fs/promises';
import { setGpuProvider, setThreadProvider, setWasmModuleLoader } from '../runtime/providers.js';
import { WASM_FILES, WASM_THREAD_FILES, onePerBuild } from './wasm-files.js';
import { nodeThreadProvider } from './node-threads.js';
import { besideBundle } from './beside-bundle.js';

// Defined as `true` by scripts/build.mjs. Undefined when this file runs from source (vitest), where the
// .wasm files are not beside it but in build/wasm/ (asc's output) — or dist/ after a full build.
declare const __SWITCHYARD_BUNDLE__: boolean | undefined;
const bundled = typeof __SWITCHYARD_BUNDLE__ !== 'undefined' && __SWITCHYARD_BUNDLE__;

// readFile's Buffer is typed over ArrayBufferLike; it never is a SharedArrayBuffer, hence the casts.
async function readWasm(file: string): Promise<BufferSource> {
  if (bundled) return (await readFile(besideBundle(() => new URL(`./${file}`, import.meta.url)))) as Uint8Array<ArrayBuffer>;
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

// options.threads > 1: worker threads over a shared memory (node-threads.ts).
setThreadProvider(nodeThreadProvider(onePerBuild(async (build) => WebAssembly.compile(await readWasm(WASM_THREAD_FILES[build])))));

let gpu: Promise<GPU | undefined> | undefined;
setGpuProvider(() => (gpu ??= createDawnGpu()));

async function createDawnGpu(): Promise<GPU | undefined> {
  try {
    // A variable specifier keeps TypeScript from requiring the optional package's types.
    const specifier = 'webgpu';
    const { create, globals } = (await import(specifier)) as {
      create(options: string[]): GPU;
      globals: Record<string, unknown>;
    };
    // The WebGPU constants (GPUBufferUsage, …) — only those the runtime does not define itself.
    const scope = globalThis as Record<string, unknown>;
    for (const [name, value] of Object.entries(globals)) if (!(name in scope)) scope[name] = value;
    return create([]);
  } catch {
    return undefined;
  }
}

export * from '../index.js';
