// A call too large for the adapter's storage bindings: its activations (here h [rows, dFF]) would pass
// maxStorageBufferBindingSize, which a caller cannot change but can answer by splitting the call. The
// refusal names options.tokens and about how many fit, before any buffer is freed or made, and the block
// answers the next, smaller call as before. Dawn on lavapipe here (128 MiB per binding, WebGPU's default).
import { describe, expect, it } from 'vitest';
import { createMoE } from '../../ts/entry/node.js';
import type { MoEConfig } from '../../ts/spec/types.js';
import { dawnDeviceFor, inCI } from './dawn-device.js';
import { normal, rng } from '../cases/rng.js';

const { device } = await dawnDeviceFor('webgpu-call-limits');

describe('a WebGPU call past the adapter\'s binding size', () => {
  it.runIf(device || inCI)('is refused as too many tokens, and the block answers the next call', async () => {
    const [E, d, f] = [1, 8, 4096];
    const limit = device!.limits.maxStorageBufferBindingSize;
    const tooMany = Math.floor(limit / (4 * f)) + 8; // one row per token: h alone passes the limit
    const config: MoEConfig = { dModel: d, router: { kind: 'topk', numExperts: E, topK: 1 }, expert: { dFF: f, activation: 'relu' } };
    const r = rng(8);
    const weights = { 'router.weight': normal(r, E * d), 'experts.up': normal(r, E * f * d), 'experts.down': normal(r, E * d * f) };
    const gpu = await createMoE(config, weights, { backend: 'webgpu', device });
    const cpu = await createMoE(config, weights, { backend: 'reference' });
    const small = normal(r, 3 * d);
    await gpu.forward(small, { tokens: 3 });
    const error = await gpu.forward(new Float32Array(tooMany * d), { tokens: tooMany }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'limits', argument: 'options.tokens' });
    const most = Number(/at most about (\d+) tokens/.exec((error as Error).message)?.[1]);
    expect(most).toBeLessThan(tooMany);
    expect(most * 4 * f).toBeLessThanOrEqual(limit);
    const got = await gpu.forward(small, { tokens: 3 });
    const want = await cpu.forward(small, { tokens: 3 });
    // f32 sums of 8- and 4096-long dot products against the reference's f64 ones.
    for (let i = 0; i < want.output.length; i++) expect(Math.abs(got.output[i] - want.output[i])).toBeLessThan(1e-4 * (1 + Math.abs(want.output[i])));
    gpu.destroy();
    cpu.destroy();
  });
});
