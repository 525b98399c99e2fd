// One forward, one read-back (DESIGN.md §2: nothing is read back between router and combine). Counted
// through the public API: createMoE(config, weights, { backend: 'webgpu', device }) with `device` a Proxy
// of the real GPUDevice whose buffers count their mapAsync(READ) calls and whose queue counts submits.
// With the router on the device (plain softmax top-k with a router weight) the output, logits, probs,
// indices and weights share one staging buffer: exactly one map per forward, on the GEMM and on the
// decode mat-vec path, with and without a shared expert. A router the device kernel does not run
// (sigmoid scores here) routes on the CPU first; the GPU then maps only its output, once. Dawn on
// lavapipe here; without an adapter the suite skips with its reason, except in CI (CI=true).
import { describe, expect, it } from 'vitest';
import { dawnDeviceFor } from './dawn-device.js';
import { createMoE } from '../../ts/index.js';
import type { MoEConfig } from '../../ts/spec/types.js';
import { deviceDescription } from '../../ts/runtime/gpu-device.js';
import { expectExact, expectRelativeToNorm } from '../cases/compare.js';
import { rng } from '../cases/rng.js';

/** The block's f32 output against the reference path (as webgpu-backend.test.ts's OUTPUT_REL). */
const OUTPUT_REL = 1e-4;

const { device, reason } = await dawnDeviceFor('webgpu-readback');

interface Counts {
  mapRead: number;
  mapWrite: number;
  submit: number;
}

/** Methods of a native object called on the object itself (Dawn's bindings reject a Proxy as `this`). */
function forward<T extends object>(target: T, p: string | symbol): unknown {
  const v = Reflect.get(target, p, target);
  return typeof v === 'function' ? v.bind(target) : v;
}

/**
 * `real` behind a Proxy: createBuffer hands out the real buffer with its mapAsync wrapped (an own
 * property, so only buffers made through this device count), and queue.submit is counted.
 */
function countingDevice(real: GPUDevice): { device: GPUDevice; counts: Counts } {
  const counts: Counts = { mapRead: 0, mapWrite: 0, submit: 0 };
  const queue = new Proxy(real.queue, {
    get(target, p) {
      if (p === 'submit') {
        return (buffers: Iterable<GPUCommandBuffer>) => {
          counts.submit++;
          target.submit(buffers);
        };
      }
      return forward(target, p);
    },
  });
  const device = new Proxy(real, {
    get(target, p) {
      if (p === 'queue') return queue;
      if (p === 'createBuffer') {
        return (descriptor: GPUBufferDescriptor) => {
          const buffer = target.createBuffer(descriptor);
          const mapAsync = buffer.mapAsync.bind(buffer);
          Object.defineProperty(buffer, 'mapAsync', {
            value: (mode: GPUMapModeFlags, offset?: number, size?: number) => {
              if (mode & GPUMapMode.READ) counts.mapRead++;
              if (mode & GPUMapMode.WRITE) counts.mapWrite++;
              return mapAsync(mode, offset, size);
            },
          });
          return buffer;
        };
      }
      return forward(target, p);
    },
  });
  return { device, counts };
}

function uniform(n: number, r: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

const E = 8;
const D_MODEL = 24;
const D_FF = 40;

function block(score: 'softmax' | 'sigmoid', shared: boolean, seed: number) {
  const r = rng(seed);
  const config: MoEConfig = {
    dModel: D_MODEL,
    router: { kind: 'topk', numExperts: E, topK: 2, score, normalize: true },
    expert: { dFF: D_FF, activation: 'swiglu' },
    ...(shared ? { shared: { dFF: 32, gated: true } } : {}),
  };
  const weights: Record<string, Float32Array> = {
    'router.weight': uniform(E * D_MODEL, r, 2 / Math.sqrt(D_MODEL)),
    'experts.gate': uniform(E * D_FF * D_MODEL, r, 1 / Math.sqrt(D_MODEL)),
    'experts.up': uniform(E * D_FF * D_MODEL, r, 1 / Math.sqrt(D_MODEL)),
    'experts.down': uniform(E * D_MODEL * D_FF, r, 1 / Math.sqrt(D_FF)),
  };
  if (shared) {
    Object.assign(weights, {
      'shared.gate': uniform(32 * D_MODEL, r, 1 / Math.sqrt(D_MODEL)),
      'shared.up': uniform(32 * D_MODEL, r, 1 / Math.sqrt(D_MODEL)),
      'shared.down': uniform(D_MODEL * 32, r, 1 / Math.sqrt(32)),
      'shared.router': uniform(D_MODEL, r, 1 / Math.sqrt(D_MODEL)),
    });
  }
  return { config, weights, hidden: uniform(64 * D_MODEL, r) };
}

describe.skipIf(!device)(`read-backs per forward on ${device ? deviceDescription(device) : 'no adapter'}`, () => {
  for (const shared of [false, true]) {
    it(`router on the device${shared ? ', σ-gated shared expert' : ''}: one submit and one map for reading per forward, T ∈ {1, 7, 64}`, async () => {
      const { device: counted, counts } = countingDevice(device!);
      const { config, weights, hidden } = block('softmax', shared, shared ? 41 : 40);
      const moe = await createMoE(config, weights, { backend: 'webgpu', device: counted });
      const oracle = await createMoE(config, weights, { backend: 'reference' });
      expect(moe.backend).toBe('webgpu');
      for (const T of [1, 7, 64, 7]) {
        const before = { ...counts };
        const x = hidden.subarray(0, T * D_MODEL);
        const { output, routing } = await moe.forward(x, { tokens: T });
        const name = `shared=${shared} T=${T}`;
        expect(routing.backend, `${name}: routed on the device`).toBe('webgpu');
        expect(counts.mapRead - before.mapRead, `${name}: maps for reading`).toBe(1);
        expect(counts.submit - before.submit, `${name}: submits`).toBe(1);
        expect(counts.mapWrite - before.mapWrite, `${name}: maps for writing`).toBe(0);
        // The one read-back carries the routing too: same experts as the oracle, and the same output.
        const want = await oracle.forward(x, { tokens: T });
        expectExact(`${name} indices`, routing.indices, want.routing.indices);
        expectRelativeToNorm(`${name} output`, output, want.output, OUTPUT_REL);
      }
      moe.destroy();
      oracle.destroy();
    });
  }

  it('router on the CPU (sigmoid scores): the experts still map only their output, once per forward', async () => {
    const { device: counted, counts } = countingDevice(device!);
    const { config, weights, hidden } = block('sigmoid', false, 42);
    const moe = await createMoE(config, weights, { backend: 'webgpu', device: counted });
    const oracle = await createMoE(config, weights, { backend: 'reference' });
    expect(moe.backend).toBe('webgpu');
    for (const T of [1, 64]) {
      const before = { ...counts };
      const x = hidden.subarray(0, T * D_MODEL);
      const { output, routing } = await moe.forward(x, { tokens: T });
      expect(routing.backend, `T=${T}: routed on the CPU`).not.toBe('webgpu');
      expect(counts.mapRead - before.mapRead, `T=${T}: maps for reading`).toBe(1);
      expect(counts.submit - before.submit, `T=${T}: submits`).toBe(1);
      expectRelativeToNorm(`sigmoid T=${T} output`, output, (await oracle.forward(x, { tokens: T })).output, OUTPUT_REL);
    }
    moe.destroy();
    oracle.destroy();
  });
});
