// Where the runtime-specific pieces come from. Each entry point (ts/entry/<runtime>.ts) registers how its
// runtime obtains the compiled WASM module and the WebGPU object; the core never touches fs, fetch or
// npm packages directly, which keeps one core for Node, Deno, browsers and workerd.

/** The two WASM builds: plain SIMD128, and SIMD128 plus relaxed-SIMD (FMA). */
export type WasmBuild = 'simd128' | 'relaxed-simd';

/** Produces the compiled module of one build (workerd: a statically imported module; others: compiled bytes). */
export type WasmModuleLoader = (build: WasmBuild) => Promise<WebAssembly.Module>;

/** Produces the runtime's GPU object, or undefined when the runtime has none. */
export type GpuProvider = () => Promise<GPU | undefined>;

let wasmModuleLoader: WasmModuleLoader | undefined;
let gpuProvider: GpuProvider = async () =>
  (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;

export function setWasmModuleLoader(loader: WasmModuleLoader): void {
  wasmModuleLoader = loader;
}

export function getWasmModuleLoader(): WasmModuleLoader | undefined {
  return wasmModuleLoader;
}

export function setGpuProvider(provider: GpuProvider): void {
  gpuProvider = provider;
}

export function getGpu(): Promise<GPU | undefined> {
  return gpuProvider();
}
