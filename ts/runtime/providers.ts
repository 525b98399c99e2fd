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

/**
 * A worker thread as the runtime spawns it (node:worker_threads, or a Web Worker), reduced to what the
 * WASM thread pool needs. Messages are structured-cloned: a WebAssembly.Module and a shared
 * WebAssembly.Memory cross as themselves.
 */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  onMessage(listener: (data: unknown) => void): void;
  /** The worker failed to load or threw outside the pool's own error handling. */
  onError(listener: (error: unknown) => void): void;
  terminate(): void;
}

/** How a runtime runs the expert kernels on several threads; absent where it cannot (workerd). */
export interface ThreadProvider {
  /** The shared-memory build of `build` (imports env.memory, shared; asconfig.json's *-threads targets). */
  loadModule(build: WasmBuild): Promise<WebAssembly.Module>;
  /** Starts a worker running `source`: self-contained JavaScript that reads `port` (see wasm-worker.ts). */
  spawn(source: (port: string) => string): WorkerHandle;
}

let threadProvider: ThreadProvider | undefined;

export function setThreadProvider(provider: ThreadProvider | undefined): void {
  threadProvider = provider;
}

export function getThreadProvider(): ThreadProvider | undefined {
  return threadProvider;
}
