// Misspelt fields of specs, configs and options: refused by name where they would have been ignored, while
// unrelated extra fields, and a field of another router kind, still pass.
import { describe, expect, it } from 'vitest';
import { createMoE, route, fromHuggingFace, routers, RouterMonitor } from '../../ts/entry/node.js';
import { nearlySame } from '../../ts/spec/misspelt-fields.js';
import type { MoEConfig, RouterSpec } from '../../ts/spec/types.js';

const E = 4;
const d = 8;
const dFF = 6;
const logits = Float32Array.from({ length: 3 * E }, (_, i) => Math.sin(i));
const weights = {
  'router.weight': Float32Array.from({ length: E * d }, (_, i) => Math.cos(i) / 4),
  'experts.gate': Float32Array.from({ length: E * dFF * d }, (_, i) => Math.sin(i * 0.7) / 4),
  'experts.up': Float32Array.from({ length: E * dFF * d }, (_, i) => Math.cos(i * 0.3) / 4),
  'experts.down': Float32Array.from({ length: E * d * dFF }, (_, i) => Math.sin(i * 0.2) / 4),
};
const config: MoEConfig = { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2 }, expert: { dFF, activation: 'swiglu' } };

async function refusal(work: () => unknown): Promise<{ code?: string; argument?: string; message: string }> {
  try {
    await work();
  } catch (e) {
    return e as { code?: string; argument?: string; message: string };
  }
  throw new Error('expected a refusal');
}

describe('nearlySame', () => {
  it('matches other spellings, cases, separators, a letter or two and cut-off ends', () => {
    for (const [typed, name] of [
      ['normalise', 'normalize'], ['tokenIDs', 'tokenIds'], ['d_model', 'dModel'], ['thread', 'threads'], ['sequenceLen', 'sequenceLength'],
      ['weightDType', 'weightDtype'], ['topk', 'topK'], ['num_experts', 'numExperts'], ['experts', 'expert'], ['weights', 'weight'],
      ['maxIteration', 'maxIterations'], ['selectionBais', 'selectionBias'], ['K', 'k'], ['biases', 'bias'],
    ]) expect(nearlySame(typed, name), `${typed} ~ ${name}`).toBe(true);
  });

  it('matches the other names of a field: abbreviations, and the same setting as other libraries name it', () => {
    for (const [typed, name] of [
      ['seqLen', 'sequenceLength'], ['seq_len', 'sequenceLength'], ['input_ids', 'tokenIds'], ['maxIter', 'maxIterations'],
      ['tol', 'tolerance'], ['padding', 'padToCapacity'], ['capacityFactor', 'capacity'], ['capacity_factor', 'factor'],
      ['norm_topk_prob', 'normalize'], ['routed_scaling_factor', 'scale'], ['e_score_correction_bias', 'selectionBias'],
      ['numThreads', 'threads'], ['dtype', 'weightDtype'],
    ]) expect(nearlySame(typed, name), `${typed} ~ ${name}`).toBe(true);
  });

  it('keeps apart names that only share a few letters', () => {
    for (const [typed, name] of [
      ['seed', 'scale'], ['score', 'scale'], ['bias', 'alpha'], ['on', 'count'], ['per', 'perExpert'], ['tokens', 'tokenIds'],
      ['table', 'limit'], ['offset', 'factor'], ['hidden', 'router'], ['name', 'kind'], ['k', 'E'],
    ]) expect(nearlySame(typed, name), `${typed} ≁ ${name}`).toBe(false);
  });
});

describe('misspelt fields through the public API', () => {
  it('route() refuses them in the spec, its groups and capacity, and the input', async () => {
    const cases: [RouterSpec, Record<string, unknown>, string, string][] = [
      [{ kind: 'topk', numExperts: E, topK: 2, normalise: true } as never, { tokens: 3, logits }, 'spec.normalise', 'normalize'],
      [{ kind: 'topk', numExperts: E, topK: 2, groups: { count: 2, topK: 1 } } as never, { tokens: 3, logits }, 'spec.groups.topK', 'topk'],
      [{ kind: 'topk', numExperts: E, topK: 2, capacity: { factor: 1, drop_policy: 'position' } } as never, { tokens: 3, logits }, 'spec.capacity.drop_policy', 'dropPolicy'],
      [{ kind: 'sinkhorn', numExperts: E, topK: 1, maxIteration: 3 } as never, { tokens: 3, logits }, 'spec.maxIteration', 'maxIterations'],
      [{ kind: 'topk', numExperts: E, topK: 2 }, { tokens: 3, logits, sequenceLen: 1 }, 'input.sequenceLen', 'sequenceLength'],
      [{ kind: 'topk', numExperts: E, topK: 2 }, { tokens: 3, logits, seq_len: 1 }, 'input.seq_len', 'sequenceLength'],
      [{ kind: 'sinkhorn', numExperts: E, topK: 1, tol: 1e-3 } as never, { tokens: 3, logits }, 'spec.tol', 'tolerance'],
      [{ kind: 'topk', numExperts: E, topK: 2, norm_topk_prob: true } as never, { tokens: 3, logits }, 'spec.norm_topk_prob', 'normalize'],
      // Expert choice's field, on a 'topk' spec: its capacity misnamed, which the other kinds' fields may not hide.
      [{ kind: 'topk', numExperts: E, topK: 2, capacityFactor: 0.5 } as never, { tokens: 3, logits }, 'spec.capacityFactor', 'capacity'],
      [{ kind: 'topk', numExperts: E, topK: 2, capacity: { capacityFactor: 1 } } as never, { tokens: 3, logits }, 'spec.capacity.capacityFactor', 'factor'],
      [{ kind: 'topk', numExperts: E, topK: 2, capacity: { factor: 1, padding: true } } as never, { tokens: 3, logits }, 'spec.capacity.padding', 'padToCapacity'],
    ];
    // Not near either field capacity needs: the refusal of a capacity without one lists what it was given.
    const e = await refusal(() => route({ kind: 'topk', numExperts: E, topK: 2, capacity: { size: 1 } } as never, { tokens: 3, logits }));
    expect(e).toMatchObject({ code: 'config', argument: 'spec.capacity' });
    expect(e.message).toContain('its fields: size');
    for (const [spec, input, argument, meant] of cases) {
      for (const backend of ['reference', 'wasm'] as const) {
        const e = await refusal(() => route(spec, input as never, { backend }));
        expect(e, `${argument} on ${backend}`).toMatchObject({ code: 'config', argument });
        expect(e.message).toContain(`'${meant}'`);
      }
    }
  });

  it('createMoE and forward() refuse them in the config, the options and the forward options', async () => {
    const e1 = await refusal(() => createMoE({ ...config, expert: { ...config.expert, biases: true } as never }, weights, { backend: 'reference' }));
    expect(e1).toMatchObject({ code: 'config', argument: 'config.expert.biases' });
    const e2 = await refusal(() => createMoE({ ...config, experts: config.expert } as never, weights, { backend: 'reference' }));
    expect(e2).toMatchObject({ code: 'config', argument: 'config.experts' });
    const e3 = await refusal(() => createMoE(config, weights, { backend: 'wasm', weightDType: 'int8' } as never));
    expect(e3).toMatchObject({ code: 'config', argument: 'options.weightDType' });
    const moe = await createMoE(config, weights, { backend: 'wasm' });
    const hidden = Float32Array.from({ length: 2 * d }, (_, i) => Math.sin(i));
    const e4 = await refusal(() => moe.forward(hidden, { tokens: 2, tokenIDs: new Int32Array(2) } as never));
    expect(e4).toMatchObject({ code: 'config', argument: 'options.tokenIDs' });
    const e5 = await refusal(() => moe.forward(hidden, { tokens: 2, seqLen: 1 } as never));
    expect(e5).toMatchObject({ code: 'config', argument: 'options.seqLen' });
    const e6 = await refusal(() => createMoE(config, weights, { backend: 'wasm', numThreads: 2 } as never));
    expect(e6).toMatchObject({ code: 'config', argument: 'options.numThreads' });
    // The block is unharmed: the same call spelt right answers.
    expect((await moe.forward(hidden, { tokens: 2 })).output.length).toBe(2 * d);
    moe.destroy();
  });

  it('fromHuggingFace, the presets and RouterMonitor refuse them too', async () => {
    const e1 = await refusal(() => fromHuggingFace({ config: { model_type: 'mixtral' }, tensors: {}, model_type: 'mixtral' } as never));
    expect(e1).toMatchObject({ code: 'config', argument: 'args.model_type' });
    const e2 = await refusal(() => routers.qwen({ E, k: 2, normTopKProb: true } as never));
    expect(e2).toMatchObject({ code: 'config', argument: 'routers.qwen.normTopKProb' });
    const e3 = await refusal(() => new RouterMonitor({ collapseTreshold: 0.2 } as never));
    expect(e3).toMatchObject({ code: 'config', argument: 'options.collapseTreshold' });
  });

  it('lets unrelated extra fields and another kind\'s fields pass, as before', async () => {
    const spec = { kind: 'topk', numExperts: E, topK: 2, seed: 3, name: 'layer 0', tolerance: 1e-3 } as never;
    const r = await route(spec, { tokens: 3, logits, note: 'x' } as never, { backend: 'reference' });
    const plain = await route({ kind: 'topk', numExperts: E, topK: 2 }, { tokens: 3, logits }, { backend: 'reference' });
    expect(r.indices).toEqual(plain.indices);
    expect(r.weights).toEqual(plain.weights);
    const moe = await createMoE({ ...config, label: 'moe' } as never, weights, { backend: 'reference', verbose: true } as never);
    const hidden = Float32Array.from({ length: d }, (_, i) => Math.cos(i));
    expect((await moe.forward(hidden, { tokens: 1, trace: false } as never)).output.length).toBe(d);
    moe.destroy();
  });
});
