// createMoE's weights as a Map (as fromHuggingFace takes tensors) or as a record: the same block, bit for bit.
import { describe, expect, it } from 'vitest';
import { createMoE } from '../../ts/entry/node.js';
import type { MoEConfig } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';

const [E, d, f, T] = [5, 12, 10, 7];
const config: MoEConfig = { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu', bias: true } };
const r = rng(77);
const record = {
  'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d), 'experts.up': normal(r, E * f * d), 'experts.down': normal(r, E * d * f),
  'experts.gate_bias': normal(r, E * f), 'experts.up_bias': normal(r, E * f), 'experts.down_bias': normal(r, E * d),
};
const hidden = normal(r, T * d);

describe('createMoE weights as a Map', () => {
  it('builds the same block as the record, on reference and wasm', async () => {
    for (const backend of ['reference', 'wasm'] as const) {
      const fromRecord = await createMoE(config, record, { backend });
      const fromMap = await createMoE(config, new Map(Object.entries(record)), { backend });
      const want = await fromRecord.forward(hidden, { tokens: T });
      const got = await fromMap.forward(hidden, { tokens: T });
      expect(Array.from(got.output), backend).toEqual(Array.from(want.output));
      expect(Array.from(got.routing.indices)).toEqual(Array.from(want.routing.indices));
      fromRecord.destroy();
      fromMap.destroy();
    }
  });

  it('names a missing or unknown entry of the Map as of the record', async () => {
    const { ['experts.down']: _, ...rest } = record;
    await expect(createMoE(config, new Map(Object.entries(rest)), { backend: 'reference' })).rejects.toMatchObject({ code: 'shape', argument: "weights['experts.down']" });
    const extra = new Map(Object.entries({ ...record, 'experts.w1': record['experts.gate'] }));
    await expect(createMoE(config, extra, { backend: 'reference' })).rejects.toMatchObject({ code: 'config', argument: "weights['experts.w1']" });
  });
});
