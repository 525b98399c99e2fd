// Getting a GPUDevice: an injected device wins (browsers, Deno and tests that own theirs); otherwise the
// runtime's GPU object (ts/runtime/providers.ts) gives an adapter and we ask it for a device with the
// limits MoE weights need. The defaults (128 MiB per storage binding, 256 MiB per buffer, 16 KiB workgroup
// memory, 8 storage buffers per stage) are far below what most adapters allow, and a device only gets
// more when it asks for it at creation. The same holds for features: `shader-f16` (f16 expert weights)
// is requested whenever the adapter has it. The context every kernel call runs in is
// ts/backends/webgpu-context.ts.
import { SwitchyardError } from '../errors.js';
import { getGpu } from './providers.js';

/** Optional features the WebGPU path uses when present; the f32 path needs none. */
const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16'];

/** The limits worth raising for expert weights and GEMM tiles; each is requested only if the adapter exceeds the default. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
] as const;

/** WebGPU's default values of RAISED_LIMITS (spec §3.6.2 "Limits"). */
const DEFAULT_LIMITS: Record<(typeof RAISED_LIMITS)[number], number> = {
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeInvocationsPerWorkgroup: 256,
};

const descriptions = new WeakMap<GPUDevice, string>();
let defaultDevice: Promise<GPUDevice | undefined> | undefined;

/**
 * The device to run on: `injected` if given, else a cached device from the runtime's adapter, or
 * undefined when there is no adapter. A lost default device is dropped from the cache so the next call
 * asks again.
 */
export function acquireDevice(injected?: GPUDevice): Promise<GPUDevice | undefined> {
  if (injected) return Promise.resolve(injected);
  if (!defaultDevice) {
    defaultDevice = requestDefaultDevice().catch(() => undefined);
    void defaultDevice.then((device) => {
      if (!device) defaultDevice = undefined;
      else void device.lost.then(() => (defaultDevice = undefined));
    });
  }
  return defaultDevice;
}

/** "vendor architecture description" of the adapter a device came from, for logs and bench reports. */
export function deviceDescription(device: GPUDevice): string | undefined {
  const known = descriptions.get(device);
  if (known) return known;
  // Newer implementations expose the adapter info on the device itself.
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info ? describeAdapterInfo(info) : undefined;
}

async function requestDefaultDevice(): Promise<GPUDevice | undefined> {
  const gpu = await getGpu();
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return undefined;
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const available = adapter.limits[name];
    if (typeof available === 'number' && available > DEFAULT_LIMITS[name]) requiredLimits[name] = available;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  descriptions.set(device, describeAdapterInfo(adapter.info));
  return device;
}

function describeAdapterInfo(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.description].filter((s) => s && s.length > 0).join(' ') || 'unknown adapter';
}
