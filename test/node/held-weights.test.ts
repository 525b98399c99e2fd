// What a block keeps of the weights it was built from (create-moe.ts releaseExpertArrays): on CPU paths only
// (wasm packs its own copy, the reference keeps what it needs itself) the canonical expert arrays are let go,
// and the block still computes the oracle's output; a block with a GPU path keeps them, since a lost device
// re-binds the experts on the CPU. White-box: the block's resolved weights.
import { describe, expect, it } from 'vitest';
import * as api from '../../ts/entry/node.js';
import type { ResolvedMoE } from '../../ts/spec/moe-config.js';
import type { MoE, MoEConfig } from '../../ts/spec/types.js';
import { dawnDeviceFor, inCI } from './dawn-device.js';
import { expectExact, expectRelativeToNorm } from '../cases/compare.js';
import { getGpu } from '../../ts/runtime/providers.js';
import { normal, rng } from '../cases/rng.js';
import { decodeBf16, f32ToBf16 } from '../../ts/formats/dtype.js';

const { device } = await dawnDeviceFor('held-weights');

const [E, d, f, T] = [6, 24, 20, 5];
const config: MoEConfig = {
  dModel: d, router: { kind: 'topk', numExperts: E, topK: 2, normalize: true },
  expert: { dFF: f, activation: 'swiglu' }, shared: { dFF: 12, gated: true },
};
const r = rng(404);
const weights = {
  'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d), 'experts.up': normal(r, E * f * d), 'experts.down': normal(r, E * d * f),
  'shared.gate': normal(r, 12 * d), 'shared.up': normal(r, 12 * d), 'shared.down': normal(r, d * 12), 'shared.router': normal(r, d),
};
const hidden = normal(r, T * d);
/** f32 paths against the reference: sums in another order (as the conformance cases). */
const OUTPUT_REL = 1e-5;

const held = (moe: MoE) => {
  const { experts, shared } = (moe as unknown as { resolved: ResolvedMoE }).resolved;
  return [experts.gate, experts.up, experts.down, shared!.experts.gate, shared!.experts.up, shared!.experts.down].map((a) => a.length);
};

describe('the expert arrays a block keeps', () => {
  it('CPU paths let them go and still compute the oracle; the caller’s arrays are untouched', async () => {
    const oracle = await api.createMoE(config, weights, { backend: 'reference' });
    const want = (await oracle.forward(hidden, { tokens: T })).output;
    expect(held(oracle)).toEqual([0, 0, 0, 0, 0, 0]);
    for (const options of [{ backend: 'wasm' as const }, { backend: 'wasm' as const, weightDtype: 'int8' as const }]) {
      const moe = await api.createMoE(config, weights, options);
      expect(held(moe)).toEqual([0, 0, 0, 0, 0, 0]);
      const got = (await moe.forward(hidden, { tokens: T })).output;
      expectRelativeToNorm(`${JSON.stringify(options)} output`, got, want, options.weightDtype ? 4e-2 : OUTPUT_REL);
      moe.destroy();
    }
    // The reference still runs (it holds its own references), and the caller's arrays are as they were.
    expectRelativeToNorm('reference again', (await oracle.forward(hidden, { tokens: T })).output, want, 0);
    expect(weights['experts.gate'].length).toBe(E * f * d);
    oracle.destroy();
  });

  it.runIf(device || inCI)('from a bf16 checkpoint: a GPU block copies the bytes it may read again; a CPU block holds none', async () => {
    expect(device, 'no WebGPU adapter').toBeDefined();
    const bf16 = (a: Float32Array, shape: number[]) => ({ dtype: 'bf16' as const, shape, data: f32ToBf16(a) });
    const checkpoint = () => ({
      config: { model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 },
      tensors: {
        'gate.weight': bf16(weights['router.weight'], [E, d]),
        'experts.gate_up_proj': bf16(Float32Array.from({ length: 2 * E * f * d }, (_, i) => Math.sin(i)), [E, 2 * f, d]),
        'experts.down_proj': bf16(weights['experts.down'], [E, d, f]),
      },
    });
    const cpu = await api.fromHuggingFace(checkpoint(), { backend: 'wasm' });
    expect((cpu as unknown as { resolved: ResolvedMoE }).resolved.deferred).toEqual([]);
    cpu.destroy();
    // The caller reuses its buffers once fromHuggingFace returns: the GPU block's deferred projections (read
    // again if the device is lost) must still give the checkpoint's values.
    const layer = checkpoint();
    const gpu = await api.fromHuggingFace(layer, { backend: 'webgpu', device });
    const want = Float32Array.from(layer.tensors['experts.down_proj'].data, (h) => decodeBf16(h));
    for (const t of Object.values(layer.tensors)) t.data.fill(0);
    const { experts, deferred } = (gpu as unknown as { resolved: ResolvedMoE }).resolved;
    expect(deferred.length).toBe(3);
    expect(experts.down).toEqual(want);
    gpu.destroy();
  });

  it.runIf(device || inCI)('after its device is lost, a block from bf16 bytes the caller has since zeroed runs on wasm with the checkpoint\'s weights', async () => {
    expect(device, 'no WebGPU adapter').toBeDefined();
    const own = await (await (await getGpu())!.requestAdapter())!.requestDevice();
    const next = rng(405);
    const bits = (n: number) => Uint16Array.from({ length: n }, () => (next() < 0.5 ? 0x8000 : 0) | ((121 + Math.floor(next() * 6)) << 7) | Math.floor(next() * 128));
    const [router, gateUp, down] = [bits(E * d), bits(2 * E * f * d), bits(E * d * f)];
    const decode = (b: Uint16Array) => Float32Array.from(b, (h) => decodeBf16(h));
    const gate = new Float32Array(E * f * d);
    const up = new Float32Array(E * f * d);
    for (let e = 0; e < E; e++) {
      gate.set(decode(gateUp.subarray(2 * e * f * d, (2 * e + 1) * f * d)), e * f * d);
      up.set(decode(gateUp.subarray((2 * e + 1) * f * d, (2 * e + 2) * f * d)), e * f * d);
    }
    const dense = await api.createMoE(
      { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu' } },
      { 'router.weight': decode(router), 'experts.gate': gate, 'experts.up': up, 'experts.down': decode(down) }, { backend: 'wasm' });
    const layer = {
      config: { model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 },
      tensors: {
        'gate.weight': { dtype: 'bf16' as const, shape: [E, d], data: router },
        'experts.gate_up_proj': { dtype: 'bf16' as const, shape: [E, 2 * f, d], data: gateUp },
        'experts.down_proj': { dtype: 'bf16' as const, shape: [E, d, f], data: down },
      },
    };
    const moe = await api.fromHuggingFace(layer, { backend: 'webgpu', device: own });
    for (const b of [router, gateUp, down]) b.fill(0);
    own.destroy();
    const warn = console.warn;
    console.warn = () => {};
    try {
      const got = await moe.forward(hidden, { tokens: T });
      expect(got.backend).toBe('wasm');
      expectExact('output after the loss', got.output, (await dense.forward(hidden, { tokens: T })).output);
    } finally {
      console.warn = warn;
      moe.destroy();
      dense.destroy();
    }
  });

  it.runIf(device || inCI)('a block with a GPU path keeps them, for the CPU fallback of a lost device', async () => {
    expect(device, 'no WebGPU adapter').toBeDefined();
    for (const backend of ['webgpu', 'auto'] as const) {
      const moe = await api.createMoE(config, weights, { backend, device });
      expect(held(moe)).toEqual([E * f * d, E * f * d, E * d * f, 12 * d, 12 * d, d * 12]);
      moe.destroy();
    }
  });
});
