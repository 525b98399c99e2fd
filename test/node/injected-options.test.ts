// options.device and options.wasmModule through the public API: values of the wrong kind are refused with
// SwitchyardError 'config' on every backend (a number once crashed the process from inside a WeakMap), a
// module the caller injected must load or the call fails (never a silent fall to the reference path), a
// device injected from the `webgpu` package works without its globals installed, and route() on a lost
// device continues on the CPU and says so once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as api from '../../ts/entry/node.js';
import { getGpu } from '../../ts/runtime/providers.js';
import { dawnDeviceFor } from './dawn-device.js';
import { expectRelativeToNorm } from '../cases/compare.js';
import { normal, rng } from '../cases/rng.js';

/** Output vs the reference relative to its norm: WebGPU's f32 GEMMs (random-moe.ts). */
const OUTPUT_BOUND = 1e-4;
const inCI = process.env.CI === 'true';
const { device: shared, reason } = await dawnDeviceFor('injected-options');

const d = 16, f = 8, E = 4;
const random = rng(5);
const weights = {
  'router.weight': normal(random, E * d, 0.3), 'experts.gate': normal(random, E * f * d, 0.3),
  'experts.up': normal(random, E * f * d, 0.3), 'experts.down': normal(random, E * d * f, 0.3),
};
const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' as const } };
const hidden = normal(random, 3 * d);
const BACKENDS = ['auto', 'reference', 'wasm', 'webgpu'] as const;

afterEach(() => vi.restoreAllMocks());

describe('options.device and options.wasmModule of the wrong kind', () => {
  it.each([42, 'gpu', {}, null, { limits: {}, lost: Promise.resolve() }])('device %j is refused on every backend', async (device) => {
    for (const backend of BACKENDS) {
      const options = { backend, device: device as unknown as GPUDevice };
      await expect(api.createMoE(config, weights, options), backend).rejects.toMatchObject({ code: 'config', argument: 'options.device' });
      await expect(api.route(config.router, { tokens: 1, logits: new Float32Array(E) }, options), backend)
        .rejects.toMatchObject({ code: 'config', argument: 'options.device' });
    }
  });

  it('options that are not an object are refused', async () => {
    for (const options of [null, 'wasm', 2]) {
      await expect(api.createMoE(config, weights, options as never)).rejects.toMatchObject({ code: 'config', argument: 'options' });
      await expect(api.route(config.router, { tokens: 1, logits: new Float32Array(E) }, options as never)).rejects.toMatchObject({ code: 'config', argument: 'options' });
    }
  });

  it('a wasmModule that is not a compiled module is refused on every backend', async () => {
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    for (const backend of BACKENDS) {
      await expect(api.createMoE(config, weights, { backend, wasmModule: bytes as never }), backend)
        .rejects.toMatchObject({ code: 'config', argument: 'options.wasmModule' });
    }
  });

  it('an injected module that is not switchyard\'s fails the call under auto, not a silent reference path', async () => {
    const empty = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    await expect(api.createMoE(config, weights, { backend: 'auto', wasmModule: empty })).rejects.toMatchObject({ code: 'backend', argument: 'options.wasmModule' });
    await expect(api.route(config.router, { tokens: 1, logits: new Float32Array(E) }, { backend: 'auto', wasmModule: empty }))
      .rejects.toMatchObject({ code: 'backend', argument: 'options.wasmModule' });
  });
});

describe.skipIf(!shared && !inCI)(`an injected Dawn device${shared ? '' : ` (${reason})`}`, () => {
  async function ownDevice(): Promise<GPUDevice> {
    const adapter = await (await getGpu())!.requestAdapter();
    return adapter!.requestDevice();
  }

  it('runs without the WebGPU globals (GPUBufferUsage, GPUMapMode) installed', async () => {
    const scope = globalThis as Record<string, unknown>;
    const saved = { GPUBufferUsage: scope.GPUBufferUsage, GPUMapMode: scope.GPUMapMode };
    const device = await ownDevice();
    const want = await (await api.createMoE(config, weights, { backend: 'reference' })).forward(hidden, { tokens: 3 });
    delete scope.GPUBufferUsage;
    delete scope.GPUMapMode;
    try {
      const moe = await api.createMoE(config, weights, { backend: 'webgpu', device });
      const got = await moe.forward(hidden, { tokens: 3 });
      expect(got.routing.backend).toBe('webgpu');
      expectRelativeToNorm('output', got.output, want.output, OUTPUT_BOUND);
      moe.destroy();
    } finally {
      Object.assign(scope, saved);
      device.destroy();
    }
  });

  it('route() on a device lost since continues on the CPU, and warns once', async () => {
    const device = await ownDevice();
    const logits = normal(rng(8), 5 * E);
    const want = await api.route(config.router, { tokens: 5, logits }, { backend: 'reference' });
    expect((await api.route(config.router, { tokens: 5, logits }, { backend: 'webgpu', device })).backend).toBe('webgpu');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    device.destroy();
    await device.lost;
    for (let call = 0; call < 2; call++) {
      const r = await api.route(config.router, { tokens: 5, logits }, { backend: 'webgpu', device });
      expect(r.backend).toBe('wasm');
      expect([...r.indices]).toEqual([...want.indices]);
    }
    expect(warn.mock.calls.filter((c) => String(c[0]).includes('device lost')).length).toBe(1);
  });
});
