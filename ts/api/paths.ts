// Obtains the execution paths and caches them: one WASM instance per compiled module, one GPU backend per
// device. Nothing here validates user input; it only answers "can this path run here, and how".
import { SwitchyardError } from '../errors.js';
import type { CpuBackend } from '../backends/backend.js';
import { referenceBackend } from '../backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import { WebGpuBackend } from '../backends/webgpu.js';
import { loadWasmModule } from '../runtime/wasm-module.js';
import { acquireDevice } from '../runtime/gpu-device.js';
import type { BackendName, RuntimeOptions } from '../spec/types.js';
import { oneOf } from '../spec/check.js';

const wasmBackends = new WeakMap<WebAssembly.Module, Promise<WasmBackend>>();
const gpuBackends = new WeakMap<GPUDevice, Promise<WebGpuBackend>>();

export function backendOption(options: RuntimeOptions | undefined): BackendName {
  return oneOf(options?.backend, ['auto', 'reference', 'wasm', 'webgpu'] as const, 'options.backend', 'auto');
}

/** The WASM path; throws SwitchyardError('backend') when no module can be loaded. */
export async function wasmPath(options: RuntimeOptions | undefined): Promise<WasmBackend> {
  const { module } = await loadWasmModule({ wasmModule: options?.wasmModule });
  const cached = wasmBackends.get(module);
  if (cached) return cached;
  const created = createWasmBackend(module);
  wasmBackends.set(module, created);
  created.catch(() => wasmBackends.delete(module));
  return created;
}

/** The best CPU path: WASM when it loads, else the reference (so the library still works without WASM). */
export async function cpuPath(options: RuntimeOptions | undefined, forced: BackendName): Promise<CpuBackend> {
  if (forced === 'reference') return referenceBackend;
  try {
    return await wasmPath(options);
  } catch (e) {
    if (forced === 'wasm') throw e;
    return referenceBackend;
  }
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
