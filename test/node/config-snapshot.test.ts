// moe.config: a frozen snapshot of the caller's config whose arrays are the block's own — the selection
// bias above all, read as it stands on every call, so that updating it in place steers the next forward,
// whether it came in the config or as the weight router.selection_bias (fromHuggingFace's DeepSeek-V3).
import { describe, expect, it } from 'vitest';
import * as api from '../../ts/entry/node.js';
import type { MoEConfig, Routing } from '../../ts/spec/types.js';
import { dawnDeviceFor } from './dawn-device.js';
import { normal, rng } from '../cases/rng.js';

const { device } = await dawnDeviceFor('config-snapshot');
const BACKENDS = ['reference', 'wasm', ...(device ? ['webgpu' as const] : [])] as const;

const [E, d, f, T, k] = [6, 16, 12, 9, 2];
const r = rng(2611);
const weights = {
  'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d), 'experts.up': normal(r, E * f * d), 'experts.down': normal(r, E * d * f),
};
const hidden = normal(r, T * d);
const configWith = (selectionBias?: Float32Array): MoEConfig => ({
  dModel: d, router: { kind: 'topk', numExperts: E, topK: k, score: 'sigmoid', normalize: true, ...(selectionBias ? { selectionBias } : {}) },
  expert: { dFF: f, activation: 'swiglu' },
});

/** The oracle: the same router with the bias as it stands now, on the reference path's route(). */
function expectedRouting(bias: Float32Array): Promise<Routing> {
  return api.route(configWith(bias.slice()).router, { tokens: T, hidden, weight: weights['router.weight'] }, { backend: 'reference' });
}

describe('moe.config', () => {
  it("is a snapshot: the caller's later changes neither show there nor change the block; writing to it throws", async () => {
    const config = configWith();
    const moe = await api.createMoE(config, weights, { backend: 'reference' });
    config.router.topK = 1;
    config.dModel = 99;
    (config.expert as { activation: string }).activation = 'relu';
    expect(moe.config.router.topK).toBe(k);
    expect(moe.config.dModel).toBe(d);
    expect(moe.config.expert.activation).toBe('swiglu');
    expect((await moe.forward(hidden, { tokens: T })).routing.indices.length).toBe(T * k);
    expect(() => { (moe.config.router as { topK: number }).topK = 1; }).toThrow(TypeError);
    expect(() => { (moe.config as { dModel: number }).dModel = 1; }).toThrow(TypeError);
    moe.destroy();
  });

  for (const backend of BACKENDS) {
    it(`the selection bias, from the config or a weight, is read as it stands on every call (${backend})`, async () => {
      const own = new Float32Array(E);
      const fromConfig = await api.createMoE(configWith(own), weights, { backend, device });
      const fromWeight = await api.createMoE(configWith(), { ...weights, 'router.selection_bias': new Float32Array(E) }, { backend, device });
      // The config's array is the block's; the weight was copied at createMoE and is shown there.
      expect(fromConfig.config.router.kind === 'topk' && fromConfig.config.router.selectionBias).toBe(own);
      const shown = fromWeight.config.router.kind === 'topk' ? fromWeight.config.router.selectionBias : undefined;
      expect(shown).toBeInstanceOf(Float32Array);
      for (const moe of [fromConfig, fromWeight]) {
        const bias = (moe.config.router as { selectionBias: Float32Array }).selectionBias;
        // Two rounds of steering: every token to experts 4 and 1, then to 0 and 5 (the bias dwarfs σ's [0, 1]).
        for (const favoured of [[4, 1], [0, 5]]) {
          bias.fill(0);
          bias[favoured[0]] = 10;
          bias[favoured[1]] = 5;
          const got = await moe.forward(hidden, { tokens: T });
          const want = await expectedRouting(bias);
          expect(Array.from(got.routing.indices), `${backend} ${favoured}`).toEqual(Array.from(want.indices));
          expect(Array.from(got.routing.indices.subarray(0, k))).toEqual(favoured);
          expect(Array.from(got.routing.stats.load)).toEqual(Array.from(want.stats.load));
        }
        // A value written in that is not finite is refused on the call that would read it, then forgiven.
        bias[2] = NaN;
        await expect(moe.forward(hidden, { tokens: T })).rejects.toMatchObject({ code: 'range', argument: 'config.router.selectionBias' });
        bias[2] = 0;
        expect((await moe.forward(hidden, { tokens: T })).routing.indices[0]).toBe(0);
        moe.destroy();
      }
    });
  }
});
