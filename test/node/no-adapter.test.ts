// A runtime that offers no WebGPU adapter (workerd, a browser without WebGPU): backend 'webgpu' is refused
// with SwitchyardError 'backend' for every router — a router the GPU kernel does not implement once slipped
// through to the CPU and answered as 'wasm' — while 'auto' runs on the CPU.
import { describe, expect, it } from 'vitest';
import * as api from '../../ts/entry/node.js';
import { setGpuProvider } from '../../ts/runtime/providers.js';

// Installed after the entry's own provider: this file's runtime has no GPU.
setGpuProvider(async () => undefined);

const E = 4;
const logits = Float32Array.from({ length: 3 * E }, (_, i) => Math.sin(i));
const SPECS = [
  { kind: 'topk', numExperts: E, topK: 2 },
  { kind: 'topk', numExperts: E, topK: 2, score: 'sigmoid' },
  { kind: 'sinkhorn', numExperts: E, topK: 1 },
  { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 1 },
] as const;

describe('no WebGPU adapter', () => {
  it.each(SPECS)("route() with backend 'webgpu' is refused for $kind ($score)", async (spec) => {
    await expect(api.route(spec, { tokens: 3, logits }, { backend: 'webgpu' })).rejects.toMatchObject({ code: 'backend', argument: 'options.backend' });
    expect((await api.route(spec, { tokens: 3, logits }, { backend: 'auto' })).backend).not.toBe('webgpu');
  });
});
