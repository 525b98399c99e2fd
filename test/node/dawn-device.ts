// The Node GPU suites' device: Dawn from the `webgpu` package, installed as the library's GPU provider,
// and one adapter-presence check per suite. Without an adapter a suite skips with its reason — except
// in CI (CI=true), where the presence check fails instead.
import { describe, expect, it } from 'vitest';
import { acquireDevice } from '../../ts/runtime/gpu-device.js';
import { setGpuProvider } from '../../ts/runtime/providers.js';

export const inCI = process.env.CI === 'true';

export interface DawnDevice {
  device?: GPUDevice;
  /** Why there is no device. */
  reason?: string;
}

async function openDevice(): Promise<DawnDevice> {
  try {
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    const gpu = webgpu.create([]);
    setGpuProvider(async () => gpu);
    const device = await acquireDevice();
    return device ? { device } : { reason: 'requestAdapter() gave no adapter (Mesa Vulkan drivers installed?)' };
  } catch (e) {
    return { reason: `the webgpu package failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Opens the device for the suite `name` and registers its "is present in CI" check. */
export async function dawnDeviceFor(name: string): Promise<DawnDevice> {
  const opened = await openDevice();
  if (!opened.device) console.warn(`${name}: ${inCI ? 'FAILING (CI)' : 'skipping'}: ${opened.reason}`);
  describe(`webgpu adapter (${name})`, () => {
    it.runIf(inCI)('is present in CI', () => {
      expect(opened.device, opened.reason).toBeDefined();
    });
  });
  return opened;
}
