// Obtains the execution paths and caches them: one WASM instance per compiled module, one GPU backend per
// device. Nothing here validates user input; it only answers "can this path run here, and how".
import { SwitchyardError, describe } from '../errors.js';
import type { CpuBackend } from '../backends/backend.js';
import { referenceBackend } from '../backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import { WebGpuBackend } from '../backends/webgpu.js';
import { loadWasmModule } from '../runtime/wasm-module.js';
import { acquireDevice } from '../runtime/gpu-device.js';
import type { BackendName, RuntimeOptions } from '../spec/types.js';
import { oneOf } from '../spec/check.js';
import { refuseMisspeltFields } from '../spec/misspelt-fields.js';
import { loadThreadsModule, threadsOption, threadSupport, warnThreadsFallback } from '../runtime/threads.js';

const wasmBackends = new WeakMap<WebAssembly.Module, Promise<WasmBackend>>();
/** Threaded backends by shared-memory module and thread count: each owns its memory and workers. */
const threadedBackends = new WeakMap<WebAssembly.Module, Map<number, Promise<WasmBackend>>>();
const gpuBackends = new WeakMap<GPUDevice, Promise<WebGpuBackend>>();

/** The fields of RuntimeOptions (types.ts). */
const RUNTIME_OPTIONS = ['backend', 'device', 'wasmModule', 'weightDtype', 'threads'] as const;

/**
 * options.backend, after checking the injected objects of any path (a device or module of the wrong kind
 * is refused whichever path runs, as options.threads is: never a crash deep inside a path, nor a silent
 * fallback past the caller's own module).
 */
export function backendOption(options: RuntimeOptions | undefined): BackendName {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new SwitchyardError('config', 'options', `expected an options object ({ ${RUNTIME_OPTIONS.join(', ')} }) or nothing, received ${describe(options)}`);
  }
  if (options !== undefined) refuseMisspeltFields(options, RUNTIME_OPTIONS, 'options', 'RuntimeOptions');
  const backend = oneOf(options?.backend, ['auto', 'reference', 'wasm', 'webgpu'] as const, 'options.backend', 'auto');
  if (options?.device !== undefined) deviceOption(options.device);
  if (options?.wasmModule !== undefined && !(options.wasmModule instanceof WebAssembly.Module)) {
    throw new SwitchyardError('config', 'options.wasmModule',
      `expected a compiled WebAssembly.Module (await WebAssembly.compile(bytes)), received ${describe(options.wasmModule)}`);
  }
  return backend;
}

/** A GPUDevice, as far as a value can be told from one: the members every WebGPU call here reaches first. */
function deviceOption(value: unknown): GPUDevice {
  const d = value as Partial<Record<'createBuffer' | 'createShaderModule' | 'createBindGroup', unknown>> & { queue?: unknown; limits?: unknown; lost?: unknown } | null;
  const isDevice = d !== null && typeof d === 'object' && typeof d.createBuffer === 'function' &&
    typeof d.createShaderModule === 'function' && typeof d.createBindGroup === 'function' &&
    d.queue !== null && typeof d.queue === 'object' && d.limits !== null && typeof d.limits === 'object' &&
    typeof (d.lost as { then?: unknown } | undefined)?.then === 'function';
  if (!isDevice) {
    throw new SwitchyardError('config', 'options.device', `expected a GPUDevice (await adapter.requestDevice()), received ${describe(value)}`);
  }
  return value as GPUDevice;
}

/**
 * The WASM path; throws SwitchyardError('backend') when no module can be loaded. options.threads > 1
 * gives a backend over a shared-memory build when this runtime can run one (ts/runtime/threads.ts),
 * else the one-thread backend, with a warning that says why.
 */
export async function wasmPath(options: RuntimeOptions | undefined): Promise<WasmBackend> {
  const threads = threadsOption(options?.threads);
  if (threads > 1) {
    const threaded = await threadedPath(threads, options);
    if (threaded) return threaded;
  }
  const { module } = await loadWasmModule({ wasmModule: options?.wasmModule });
  const cached = wasmBackends.get(module);
  if (cached) return cached;
  const created = createWasmBackend(module);
  wasmBackends.set(module, created);
  created.catch(() => wasmBackends.delete(module));
  return created;
}

async function threadedPath(threads: number, options: RuntimeOptions | undefined): Promise<WasmBackend | undefined> {
  if (options?.wasmModule !== undefined) {
    warnThreadsFallback(threads, 'an injected options.wasmModule is a one-thread build');
    return undefined;
  }
  const support = threadSupport();
  if (!support.provider) {
    warnThreadsFallback(threads, support.reason);
    return undefined;
  }
  const provider = support.provider;
  let module: WebAssembly.Module;
  try {
    module = await loadThreadsModule(provider);
  } catch (e) {
    warnThreadsFallback(threads, `the shared-memory WASM build did not load (${String(e)})`);
    return undefined;
  }
  let byCount = threadedBackends.get(module);
  if (!byCount) threadedBackends.set(module, (byCount = new Map()));
  let created = byCount.get(threads);
  if (!created) {
    created = createWasmBackend(module, { provider, threads });
    byCount.set(threads, created);
    const map = byCount;
    created.catch(() => map.delete(threads));
  }
  try {
    return await created;
  } catch (e) {
    warnThreadsFallback(threads, e instanceof Error ? e.message : String(e));
    return undefined;
  }
}

/** The best CPU path: WASM when it loads, else the reference (so the library still works without WASM). */
export async function cpuPath(options: RuntimeOptions | undefined, forced: BackendName): Promise<CpuBackend> {
  // Checked on every path, so a bad value is refused even where it would not be used.
  threadsOption(options?.threads);
  if (forced === 'reference') return referenceBackend;
  try {
    return await wasmPath(options);
  } catch (e) {
    // The reference stands in only when no WASM loads by itself; a module the caller injected must work.
    if (forced === 'wasm' || options?.wasmModule !== undefined) throw e;
    warnReferenceStandIn(e);
    return referenceBackend;
  }
}

let referenceStandInWarned = false;

/** Says once per process that 'auto' runs the CPU work on the reference path, and why: it is many times slower. */
function warnReferenceStandIn(cause: unknown): void {
  if (referenceStandInWarned) return;
  referenceStandInWarned = true;
  const why = cause instanceof Error ? cause.message : String(cause);
  console.warn(`switchyard: no WASM build loaded, so backend 'auto' runs its CPU work on the reference path (many times slower): ${why}`);
}

/** The WebGPU path, or undefined when the runtime offers no adapter. */
export async function gpuPath(options: RuntimeOptions | undefined): Promise<WebGpuBackend | undefined> {
  const device = await acquireDevice(options?.device);
  if (!device) return undefined;
  const cached = gpuBackends.get(device);
  if (cached) return cached;
  const created = WebGpuBackend.create(device);
  gpuBackends.set(device, created);
  created.catch(() => gpuBackends.delete(device));
  return created;
}

export async function requireGpuPath(options: RuntimeOptions | undefined): Promise<WebGpuBackend> {
  const gpu = await gpuPath(options);
  if (!gpu) {
    throw new SwitchyardError('backend', 'options.backend', "expected a WebGPU adapter for backend 'webgpu', but this runtime offers none (pass options.device, or use 'wasm' / 'auto')");
  }
  return gpu;
}
