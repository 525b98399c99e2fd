// Routing alone: route() at T = 4096 tokens on the wasm path against the reference path (the peer here:
// no other runtime offers these routers). The first spec is the issue's {topk, E 64, k 8, normalize};
// the others show which routers have reached the wasm path — a spec the wasm path refuses with
// SwitchyardError('backend') prints "not on wasm yet" instead of a time.
import { measure } from '../lib/measure.mjs';

const T = 4096;
const E = 64;
const D_MODEL = 1024;
const SPECS = [
  { name: 'topk softmax k8 norm', spec: { kind: 'topk', numExperts: E, topK: 8, normalize: true } },
  { name: 'topk softmax k8 norm, router matmul d1024', spec: { kind: 'topk', numExperts: E, topK: 8, normalize: true }, fromHidden: true },
  { name: 'topk sigmoid groups 8/4 (DeepSeek-V3)', spec: { kind: 'topk', numExperts: E, topK: 8, score: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 8, topk: 4, scoreTopN: 2 } } },
  { name: 'topk k2 capacity 1.25', spec: { kind: 'topk', numExperts: E, topK: 2, capacity: { factor: 1.25 } } },
  { name: 'sinkhorn k1', spec: { kind: 'sinkhorn', numExperts: E, topK: 1 } },
  { name: 'expert-choice c2', spec: { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 2 } },
  { name: 'hash k2', spec: { kind: 'hash', numExperts: E, topK: 2 }, tokenIds: true },
];

export async function routerSuite(ctx) {
  const { internals, dist, budget, quick, add } = ctx;
  const random = internals.rng(0x7047e5);
  const logits = internals.normal(random, T * E, 2); // [T, E]
  const hidden = internals.normal(random, T * D_MODEL); // [T, d]
  const weight = internals.normal(random, E * D_MODEL, 1 / Math.sqrt(D_MODEL)); // [E, d]
  const tokenIds = Int32Array.from({ length: T }, () => Math.floor(random() * 50000));
  const specs = quick ? SPECS.slice(0, 3) : SPECS;
  for (const { name, spec, fromHidden, tokenIds: needsIds } of specs) {
    const input = fromHidden ? { tokens: T, hidden, weight } : { tokens: T, logits, ...(needsIds ? { tokenIds } : {}) };
    const caseName = `${name} T${T} E${E}`;
    const work = { tokens: T, ...(fromHidden ? { flops: 2 * T * D_MODEL * E } : {}) };
    for (const backend of ['wasm', 'reference']) {
      const row = { case: caseName, runtime: 'switchyard', backend, variant: backend === 'wasm' ? `route() ${ctx.switchyardWasm.variant}` : 'route() TS oracle', ours: backend === 'wasm', work };
      try {
        await dist.route(spec, input, { backend });
      } catch (e) {
        // 'backend': the path does not run this spec yet; anything else (an older dist/, a config the
        // version refuses) is printed on the row rather than ending the suite.
        add({ ...row, median: null, note: e?.code === 'backend' ? `not on ${backend} yet` : `error: ${e?.message ?? e}` });
        continue;
      }
      add({ ...row, ...(await measure(() => dist.route(spec, input, { backend }), budget)) });
    }
  }
}
