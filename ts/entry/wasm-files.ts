// The file name of each WASM build, as scripts/build.mjs writes it into dist/ (and asc into build/wasm/).
import type { WasmBuild } from '../runtime/providers.js';

export const WASM_FILES: Readonly<Record<WasmBuild, string>> = {
  'simd128': 'switchyard-simd.wasm',
  'relaxed-simd': 'switchyard-relaxed.wasm',
};

/** The shared-memory builds (imported shared memory, for worker threads; asconfig.json's *-threads). */
export const WASM_THREAD_FILES: Readonly<Record<WasmBuild, string>> = {
  'simd128': 'switchyard-simd-threads.wasm',
  'relaxed-simd': 'switchyard-relaxed-threads.wasm',
};

/** Memoises one compile per build: the core may ask more than once, compiling is the slow part. */
export function onePerBuild(
  compile: (build: WasmBuild) => Promise<WebAssembly.Module>,
): (build: WasmBuild) => Promise<WebAssembly.Module> {
  const modules = new Map<WasmBuild, Promise<WebAssembly.Module>>();
  return (build) => {
    let module = modules.get(build);
    if (!module) {
      module = compile(build);
      // A failed compile (missing file, unsupported feature) is not cached, so a later call may retry.
      module.catch(() => modules.delete(build));
      modules.set(build, module);
    }
    return module;
  };
}
