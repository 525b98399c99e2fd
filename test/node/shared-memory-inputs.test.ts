// Inputs that live in shared memory — a SharedArrayBuffer, or a shared WebAssembly.Memory as a caller's own
// WASM code would hand over — are ordinary Float32Arrays to the contract. Dawn's writeBuffer crashed the
// whole process on such a view (exit 139), so the WebGPU path copies them first; every path must give the
// same answer as for the same values in an ordinary ArrayBuffer, bit for bit.
import { describe, expect, it } from 'vitest';
import * as api from '../../ts/entry/node.js';
import { dawnDeviceFor, inCI } from './dawn-device.js';
import { normal, rng } from '../cases/rng.js';

const { device, reason } = await dawnDeviceFor('shared-memory-inputs');

const d = 24, f = 16, E = 4, T = 5;
const random = rng(31);
const plain = {
  'router.weight': normal(random, E * d, 0.3), 'experts.gate': normal(random, E * f * d, 0.3),
  'experts.up': normal(random, E * f * d, 0.3), 'experts.down': normal(random, E * d * f, 0.3),
};
const hidden = normal(random, T * d);
const logits = normal(random, T * E);
const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' as const } };

type Sharer = (a: Float32Array) => Float32Array;
/** A copy of `a` in a SharedArrayBuffer of its own. */
const inSharedArrayBuffer: Sharer = (a) => {
  const view = new Float32Array(new SharedArrayBuffer(a.byteLength));
  view.set(a);
  return view;
};
/** A copy of `a` inside a shared WebAssembly.Memory, at an offset, as a caller's WASM heap would hold it. */
const inSharedMemory: Sharer = (a) => {
  const memory = new WebAssembly.Memory({ initial: Math.ceil((a.byteLength + 64) / 65536), maximum: 1024, shared: true });
  const view = new Float32Array(memory.buffer, 64, a.length);
  view.set(a);
  return view;
};
const SHARERS: [string, Sharer][] = [['SharedArrayBuffer', inSharedArrayBuffer], ['shared WebAssembly.Memory', inSharedMemory]];

const shareAll = (share: Sharer) => Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, share(v)]));
const bits = (a: Float32Array) => [...new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength))];

const CPU_BACKENDS = ['reference', 'wasm'] as const;
const backends = device || inCI ? [...CPU_BACKENDS, 'webgpu' as const, 'auto' as const] : CPU_BACKENDS;

describe(`inputs in shared memory${device || inCI ? '' : ` (WebGPU skipped: ${reason})`}`, () => {
  for (const [where, share] of SHARERS) {
    it.each(backends)(`forward() on %s takes weights and hidden ${where}, as plain arrays`, async (backend) => {
      const want = await (await api.createMoE(config, plain, { backend })).forward(hidden, { tokens: T });
      const moe = await api.createMoE(config, shareAll(share), { backend });
      const got = await moe.forward(share(hidden), { tokens: T });
      expect(got.routing.backend).toBe(want.routing.backend);
      expect(bits(got.output)).toEqual(bits(want.output));
      expect([...got.routing.indices]).toEqual([...want.routing.indices]);
      moe.destroy();
    });

    it.each(backends)(`route() on %s takes logits and hidden ${where}, as plain arrays`, async (backend) => {
      const spec = config.router;
      const want = await api.route(spec, { tokens: T, logits }, { backend });
      const got = await api.route(spec, { tokens: T, logits: share(logits) }, { backend });
      expect([...got.indices]).toEqual([...want.indices]);
      expect(bits(got.weights)).toEqual(bits(want.weights));
      const fromHidden = { tokens: T, hidden, weight: plain['router.weight'] };
      const wantH = await api.route(spec, fromHidden, { backend });
      const gotH = await api.route(spec, { tokens: T, hidden: share(hidden), weight: share(plain['router.weight']) }, { backend });
      expect(bits(gotH.weights)).toEqual(bits(wantH.weights));
    });
  }
});
