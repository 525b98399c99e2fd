// The routing helpers around route(): updateExpertBias (aux-loss-free rule), RouterMonitor (global-batch
// aux loss, load history, collapse warning), the routers.* presets, and balancedHashTable. All on the
// reference path with seeded logits (the monitor against one call's aux also on wasm).
import { describe, expect, it, vi } from 'vitest';
import { route } from '../../ts/api/route.js';
import { route as routeInNode } from '../../ts/entry/node.js';
import { SwitchyardError } from '../../ts/errors.js';
import { balancedHashTable } from '../../ts/routing/hash-table.js';
import { RouterMonitor } from '../../ts/routing/monitor.js';
import { routers } from '../../ts/routing/presets.js';
import { updateExpertBias } from '../../ts/routing/expert-bias.js';
import type { RouterSpec, Routing } from '../../ts/spec/types.js';
import { seededRandom } from '../../ts/demo/synthetic.js';

const SEED = 7;
/** f32 weights against sums of f32 weights: a few ulps. */
const WEIGHT_TOL = 1e-6;
/** The monitor sums f32 probs in f64 in another order than route(): relative ~1e-7. */
const AUX_REL_TOL = 1e-6;

function logits(nToken: number, nExpert: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: nToken * nExpert }, () => 4 * random() - 2);
}

function reference(spec: RouterSpec, input: Parameters<typeof route>[1]): Promise<Routing> {
  return route(spec, input, { backend: 'reference' });
}

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (e) {
    return e instanceof SwitchyardError ? e.code : `not a SwitchyardError: ${String(e)}`;
  }
  return undefined;
}

function weightSums(r: Routing, k: number): number[] {
  const sums: number[] = [];
  for (let t = 0; t < r.weights.length / k; t++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += r.weights[t * k + j];
    sums.push(s);
  }
  return sums;
}

describe('updateExpertBias', () => {
  it('adds rate · sign(mean − load), in place, with sign(0) = 0', () => {
    const bias = Float32Array.from([0.5, 0, 0, 0]);
    // mean of [1, 2, 3, 6] = 3: under-loaded experts go up, the one at the mean stays, the over-loaded goes down.
    const out = updateExpertBias(bias, [1, 2, 3, 6], 0.25);
    expect(out).toBe(bias);
    expect(Array.from(bias)).toEqual([0.75, 0.25, 0, -0.25]);
  });

  it('uses rate 1e-3 by default and leaves a perfectly balanced load unchanged', () => {
    const bias = new Float32Array(3);
    updateExpertBias(bias, Int32Array.from([0, 3, 6]));
    expect(Array.from(bias)).toEqual([Math.fround(1e-3), 0, Math.fround(-1e-3)]);
    const flat = Float32Array.from([0.1, 0.2]);
    updateExpertBias(flat, [5, 5], 1);
    expect(Array.from(flat)).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  it('moves the selection bias toward balance over rounds', async () => {
    const E = 8;
    // Skewed logits: expert e gets +0.4·e, so the high experts take most tokens before any bias.
    const z = logits(64, E, SEED).map((v, i) => v + 0.4 * (i % E));
    const bias = new Float32Array(E);
    const first = await reference(routers.deepseekV3({ E, k: 2, bias }), { tokens: 64, logits: z });
    for (let round = 0; round < 20; round++) {
      const r = await reference(routers.deepseekV3({ E, k: 2, bias }), { tokens: 64, logits: z });
      updateExpertBias(bias, r.stats.load, 0.05);
    }
    const last = await reference(routers.deepseekV3({ E, k: 2, bias }), { tokens: 64, logits: z });
    // Seen: 2.81 → 1.75 on this seed.
    expect(first.stats.maxOverMean).toBeGreaterThan(2.5);
    expect(last.stats.maxOverMean).toBeLessThan(0.7 * first.stats.maxOverMean);
  });

  it('raises SwitchyardError on bad bias, lengths, counts and rate', () => {
    expect(codeOf(() => updateExpertBias([0, 0] as unknown as Float32Array, [1, 1]))).toBe('dtype');
    expect(codeOf(() => updateExpertBias(new Float32Array(3), [1, 1]))).toBe('shape');
    expect(codeOf(() => updateExpertBias(new Float32Array(2), undefined as unknown as number[]))).toBe('shape');
    expect(codeOf(() => updateExpertBias(new Float32Array(2), [1, -1]))).toBe('range');
    expect(codeOf(() => updateExpertBias(new Float32Array(2), [1, Number.NaN]))).toBe('range');
    expect(codeOf(() => updateExpertBias(new Float32Array(2), [1, 1], Number.POSITIVE_INFINITY))).toBe('range');
    expect(codeOf(() => updateExpertBias(new Float32Array(2), [1, 3], -1e-3))).toBe('range');
    expect(codeOf(() => updateExpertBias(Float32Array.of(Number.NaN, 0), [1, 2]))).toBe('range');
  });
});

describe('RouterMonitor', () => {
  const E = 8;
  const k = 2;
  const spec: RouterSpec = { kind: 'topk', numExperts: E, topK: k };

  it('globalAux of two calls equals the aux of their tokens routed together', async () => {
    const a = logits(16, E, SEED);
    const b = logits(24, E, SEED + 1);
    const both = new Float32Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const ra = await reference(spec, { tokens: 16, logits: a });
    const rb = await reference(spec, { tokens: 24, logits: b });
    const whole = await reference(spec, { tokens: 40, logits: both });
    const monitor = new RouterMonitor();
    monitor.record(ra, 3);
    monitor.record(rb, 3);
    expect(monitor.globalAux(3)).toBeCloseTo(whole.losses.aux, -Math.log10(AUX_REL_TOL * whole.losses.aux));
    expect(Math.abs(monitor.globalAux(3) - whole.losses.aux) / whole.losses.aux).toBeLessThan(AUX_REL_TOL);
    expect(monitor.recordedLayers()).toEqual([3]);
  });

  // One call recorded: the monitor's aux is the call's own, for every router kind — the monitor and the
  // losses read one distribution (routing.probs, sum-normalised), Sinkhorn top-1's σ(z) included.
  it.each<[string, RouterSpec]>([
    ['topk softmax', { kind: 'topk', numExperts: E, topK: k }],
    ['topk sigmoid', { kind: 'topk', numExperts: E, topK: k, score: 'sigmoid' }],
    ['sinkhorn top-1', { kind: 'sinkhorn', numExperts: E, topK: 1 }],
    ['sinkhorn top-2', { kind: 'sinkhorn', numExperts: E, topK: 2 }],
    ['expert choice', { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 1 }],
  ])('globalAux of one call equals its losses.aux on both CPU paths: %s', async (_, kindSpec) => {
    const z = logits(20, E, SEED + 2);
    for (const backend of ['reference', 'wasm'] as const) {
      const r = await routeInNode(kindSpec, { tokens: 20, logits: z }, { backend });
      const monitor = new RouterMonitor();
      monitor.record(r, 0);
      expect(Math.abs(monitor.globalAux(0) - r.losses.aux) / r.losses.aux, backend).toBeLessThan(AUX_REL_TOL);
    }
  });

  // Megatron-Core's global_aux_loss of micro-batch m (router.py _apply_global_aux_loss): its own scores P_m
  // against the running mean of the counts of micro-batches 1..m, E/(k·T_m²)·Σₑ(Σₜ P_m)·(Σ N / m).
  it('runningGlobalAux is Megatron-Core\'s streaming global aux loss after each call', async () => {
    const calls = [[12, SEED + 3], [20, SEED + 4], [7, SEED + 5]] as const;
    const monitor = new RouterMonitor();
    const countSum = new Float64Array(E);
    for (const [m, [T, seed]] of calls.entries()) {
      const r = await reference(spec, { tokens: T, logits: logits(T, E, seed) });
      monitor.record(r, 1);
      const pSum = new Float64Array(E);
      for (let t = 0; t < T; t++) {
        const row = Array.from(r.probs.subarray(t * E, (t + 1) * E));
        const total = row.reduce((a, b) => a + b, 0);
        row.forEach((v, e) => { pSum[e] += v / total; });
        const order = row.map((v, e) => [v, e]).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
        for (let j = 0; j < k; j++) countSum[order[j][1]]++;
      }
      let acc = 0;
      for (let e = 0; e < E; e++) acc += pSum[e] * (countSum[e] / (m + 1));
      const want = (E / (k * T * T)) * acc;
      expect(Math.abs(monitor.runningGlobalAux(1) - want) / want, `after call ${m + 1}`).toBeLessThan(AUX_REL_TOL);
      if (m === 0) expect(Math.abs(monitor.runningGlobalAux(1) - r.losses.aux) / r.losses.aux).toBeLessThan(AUX_REL_TOL);
    }
    expect(Math.abs(monitor.runningGlobalAux(1) - monitor.globalAux(1))).toBeGreaterThan(1e-3); // pooled ≠ streaming here
  });

  it('keeps the load history per layer, oldest first, as copies', async () => {
    const ra = await reference(spec, { tokens: 16, logits: logits(16, E, SEED) });
    const rb = await reference(spec, { tokens: 8, logits: logits(8, E, SEED + 2) });
    const monitor = new RouterMonitor();
    monitor.record(ra);
    monitor.record(rb);
    const history = monitor.loadHistory();
    expect(history.map((l) => Array.from(l))).toEqual([Array.from(ra.stats.load), Array.from(rb.stats.load)]);
    history[0][0] += 100;
    expect(monitor.loadHistory()[0][0]).toBe(ra.stats.load[0]);
    const total = monitor.totalLoad();
    for (let e = 0; e < E; e++) expect(total.load[e]).toBe(ra.stats.load[e] + rb.stats.load[e]);
  });

  it('calls onCollapse once per layer when loadEntropy falls below the threshold', async () => {
    // Every token prefers experts 0 and 1: load on 2 of 8 experts, loadEntropy = ln 2 / ln 8 = 1/3.
    const z = new Float32Array(10 * E);
    for (let t = 0; t < 10; t++) z.set([5, 4], t * E);
    const collapsed = await reference(spec, { tokens: 10, logits: z });
    expect(collapsed.stats.loadEntropy).toBeCloseTo(1 / 3, 6);
    const healthy = await reference(spec, { tokens: 16, logits: logits(16, E, SEED) });
    expect(healthy.stats.loadEntropy).toBeGreaterThan(0.5);

    const onCollapse = vi.fn();
    const monitor = new RouterMonitor({ collapseThreshold: 0.5, onCollapse });
    monitor.record(healthy, 0);
    expect(onCollapse).not.toHaveBeenCalled();
    monitor.record(collapsed, 0);
    monitor.record(collapsed, 0);
    monitor.record(collapsed, 1);
    expect(onCollapse).toHaveBeenCalledTimes(2);
    expect(onCollapse.mock.calls[0][0]).toBe(0);
    expect(onCollapse.mock.calls[0][1]).toBeCloseTo(1 / 3, 6);
    expect(onCollapse.mock.calls[1][0]).toBe(1);
    expect(monitor.collapsed(0)).toBe(true);
    monitor.reset();
    expect(monitor.recordedLayers()).toEqual([]);
  });

  it('raises SwitchyardError on unknown layers, bad layer numbers, mismatched shapes and thresholds', async () => {
    const r = await reference(spec, { tokens: 4, logits: logits(4, E, SEED) });
    const other = await reference({ kind: 'topk', numExperts: 4, topK: 1 }, { tokens: 4, logits: logits(4, 4, SEED) });
    const monitor = new RouterMonitor({ onCollapse: () => undefined });
    expect(codeOf(() => monitor.globalAux(0))).toBe('range');
    expect(codeOf(() => monitor.loadHistory(2))).toBe('range');
    expect(codeOf(() => monitor.record(r, -1))).toBe('range');
    expect(codeOf(() => monitor.record(r, 0.5))).toBe('range');
    monitor.record(r, 0);
    expect(codeOf(() => monitor.record(other, 0))).toBe('shape');
    expect(codeOf(() => new RouterMonitor({ collapseThreshold: 2 }))).toBe('range');
    expect(codeOf(() => new RouterMonitor({ collapseThreshold: Number.NaN }))).toBe('range');
    expect(codeOf(() => new RouterMonitor(null as never))).toBe('config');
    // Checked up front: a string threshold would compare by coercion, a non-function onCollapse would throw
    // a TypeError inside record() at the first collapse.
    expect(codeOf(() => new RouterMonitor({ collapseThreshold: '0.9' as never }))).toBe('range');
    expect(codeOf(() => new RouterMonitor({ onCollapse: 'warn' as never }))).toBe('config');
    expect(() => monitor.globalAux(3)).toThrow(/expected a recorded layer \(0\), received 3/);
    for (const notRouting of [null, {}, { stats: { load: new Int32Array(0) } }, { ...r, probs: r.probs.subarray(1) }]) {
      expect(codeOf(() => monitor.record(notRouting as never, 1))).toBe('shape');
    }
    expect(monitor.recordedLayers()).toEqual([0]);
  });
});

describe('routers.* presets', () => {
  const T = 32;
  const z = logits(T, 16, SEED);

  it('refuse a missing or non-object argument by name', () => {
    for (const name of Object.keys(routers) as (keyof typeof routers)[]) {
      for (const bad of [undefined, null, 4]) {
        let caught: unknown;
        try {
          (routers[name] as (a: unknown) => unknown)(bad);
        } catch (e) {
          caught = e;
        }
        expect(caught, `routers.${name}(${String(bad)})`).toMatchObject({ code: 'config', argument: `routers.${name}` });
      }
    }
  });

  it('mixtral, gptOss, granite: softmax, top-k, renormalised', async () => {
    for (const preset of [routers.mixtral, routers.gptOss, routers.granite]) {
      const spec = preset({ E: 16, k: 4 });
      expect(spec).toMatchObject({ kind: 'topk', numExperts: 16, topK: 4, score: 'softmax', normalize: true });
      const r = await reference(spec, { tokens: T, logits: z });
      for (const s of weightSums(r, 4)) expect(s).toBeCloseTo(1, 6);
    }
  });

  it('qwen / olmoe: softmax without renormalisation unless normTopkProb; weights are the probabilities', async () => {
    expect(routers.olmoe({ E: 16, k: 4, normTopkProb: true })).toEqual(routers.qwen({ E: 16, k: 4, normTopkProb: true }));
    expect(routers.qwen({ E: 16, k: 4, normTopkProb: true }).normalize).toBe(true);
    const spec = routers.qwen({ E: 16, k: 4 });
    expect(spec).toMatchObject({ kind: 'topk', score: 'softmax', normalize: false });
    const r = await reference(spec, { tokens: T, logits: z });
    for (let s = 0; s < T * 4; s++) {
      const t = Math.floor(s / 4);
      expect(r.weights[s]).toBeCloseTo(r.probs[t * 16 + r.indices[s]], 6);
    }
    for (const s of weightSums(r, 4)) expect(s).toBeLessThan(1);
  });

  it('deepseekV3: sigmoid, groups with scoreTopN 2, selection bias, renormalised and scaled', async () => {
    const bias = Float32Array.from({ length: 16 }, (_, e) => (e % 3) * 0.1);
    const spec = routers.deepseekV3({ E: 16, k: 4, nGroup: 4, topkGroup: 2, bias });
    expect(spec).toMatchObject({
      kind: 'topk', score: 'sigmoid', normalize: true, scale: 2.5, groups: { count: 4, topk: 2, scoreTopN: 2 },
    });
    expect(spec.selectionBias).toBe(bias);
    expect(routers.deepseekV3({ E: 16, k: 4 }).groups).toBeUndefined();
    const r = await reference(spec, { tokens: T, logits: z });
    for (const s of weightSums(r, 4)) expect(s).toBeCloseTo(2.5, 5);
    for (let t = 0; t < T; t++) {
      const groupsUsed = new Set(Array.from(r.indices.subarray(t * 4, t * 4 + 4), (e) => Math.floor(e / 4)));
      expect(groupsUsed.size).toBeLessThanOrEqual(2);
      // Sigmoid scores are per expert, not a distribution.
      for (let j = 0; j < 4; j++) expect(r.probs[t * 16 + r.indices[t * 4 + j]]).toBeCloseTo(1 / (1 + Math.exp(-z[t * 16 + r.indices[t * 4 + j]])), 6);
    }
  });

  it('switch: top-1, capacity ⌈S/E · factor⌉ per sequence, kept by position', async () => {
    const spec = routers.switch({ E: 16, capacityFactor: 1 });
    expect(spec).toMatchObject({ kind: 'topk', topK: 1, normalize: false, capacity: { factor: 1, dropPolicy: 'position', per: 'sequence' } });
    expect(routers.switch({ E: 16, expertCapacity: 3 }).capacity).toEqual({ perExpert: 3, dropPolicy: 'position', per: 'sequence' });
    const r = await reference(spec, { tokens: T, logits: z, sequenceLength: 16 });
    // Per 16-token sequence each expert keeps at most ⌈16 · 1 / 16⌉ = 1 token.
    for (let b = 0; b < 2; b++) {
      const perExpert = new Map<number, number>();
      for (let t = b * 16; t < (b + 1) * 16; t++) if (r.indices[t] >= 0) perExpert.set(r.indices[t], (perExpert.get(r.indices[t]) ?? 0) + 1);
      for (const n of perExpert.values()) expect(n).toBe(1);
    }
    expect(r.stats.dropped).toBeGreaterThan(0);
  });

  it('hashLayer: uniform weights by default, gate scores (renormalised, scaled) with score', async () => {
    const tokenIds = Int32Array.from({ length: T }, (_, t) => t % 5);
    const plain = routers.hashLayer({ E: 16, k: 2 });
    expect(plain).toMatchObject({ kind: 'hash', weights: 'uniform' });
    const r = await reference(plain, { tokens: T, tokenIds });
    for (let t = 5; t < T; t++) expect(Array.from(r.indices.subarray(t * 2, t * 2 + 2))).toEqual(Array.from(r.indices.subarray((t % 5) * 2, (t % 5) * 2 + 2)));
    for (const w of r.weights) expect(w).toBe(0.5);
    const v4 = routers.hashLayer({ E: 16, k: 2, score: 'sqrt-softplus', scale: 1.5 });
    expect(v4).toMatchObject({ kind: 'hash', weights: 'scores', score: 'sqrt-softplus', normalize: true, scale: 1.5 });
    const rs = await reference(v4, { tokens: T, tokenIds, logits: z });
    expect(Array.from(rs.indices)).toEqual(Array.from(r.indices));
    for (const s of weightSums(rs, 2)) expect(s).toBeCloseTo(1.5, 5);
  });

  it('sinkhorn, expertChoice, selfRouting route and keep their semantics', async () => {
    const sk = await reference(routers.sinkhorn({ E: 16, k: 2 }), { tokens: T, logits: z });
    expect(sk.indices.every((e) => e >= 0 && e < 16)).toBe(true);

    const ecSpec = routers.expertChoice({ E: 16, capacityFactor: 2 });
    expect(ecSpec).toMatchObject({ kind: 'expert-choice', topK: 16, capacityFactor: 2 });
    const ec = await reference(ecSpec, { tokens: T, logits: z });
    // C = max(round(2 · 32 / 16), minCapacity 4) = 4 tokens per expert.
    for (const n of ec.stats.load) expect(n).toBe(4);
    // topK left out means numExperts (one slot per expert); any other value is refused.
    const { topK: _, ...withoutTopK } = ecSpec;
    const same = await reference(withoutTopK as RouterSpec, { tokens: T, logits: z });
    expect(same.indices).toEqual(ec.indices);
    expect(same.weights).toEqual(ec.weights);
    await expect(reference({ ...ecSpec, topK: 15 }, { tokens: T, logits: z })).rejects.toMatchObject({ code: 'config', argument: 'spec.topK' });

    // c·T/E on a half: flaxformer's Python round() goes to the even neighbour (4.5 → 4, 5.5 → 6, 0.5 → 0),
    // on both paths; with minCapacity 0 nothing then lifts C.
    for (const [c, want] of [[2.25, 4], [2.75, 6], [0.25, 0]] as const) {
      const spec = routers.expertChoice({ E: 16, capacityFactor: c });
      for (const backend of ['reference', 'wasm'] as const) {
        const r = await routeInNode({ ...spec, minCapacity: 0 }, { tokens: T, logits: z }, { backend });
        expect(Array.from(r.stats.load), `${backend}, c = ${c}`).toEqual(new Array(16).fill(want));
      }
    }

    const d = 24;
    const hidden = Float32Array.from({ length: T * d }, (_, i) => Math.sin(i * 0.37));
    const self = routers.selfRouting({ E: 16, k: 2 });
    expect(self).toMatchObject({ kind: 'self', score: 'softmax', normalize: true });
    const rs = await reference(self, { tokens: T, hidden });
    for (let t = 0; t < T; t++) {
      // The logits are the last E coordinates of the hidden state: the top one is their argmax.
      const tail = Array.from(hidden.subarray(t * d + d - 16, t * d + d));
      expect(rs.indices[t * 2]).toBe(tail.indexOf(Math.max(...tail)));
    }
    for (const s of weightSums(rs, 2)) expect(s).toBeCloseTo(1, 6);
  });
});

describe('balancedHashTable', () => {
  it('gives the most frequent token expert 0, then fills the least-loaded expert', () => {
    // Order by count: id 1 (5) → e0, id 2 (3) → e1, id 0 (1) → e2.
    expect(Array.from(balancedHashTable([1, 5, 3], 3, 1))).toEqual([2, 0, 1]);
  });

  it('gives a token k distinct experts', () => {
    // id 0 (5): e0, then e1 (e0 taken); id 1 (3): e2 (empty), then e0 (tie 5 = 5 → lower index).
    expect(Array.from(balancedHashTable([5, 3], 3, 2))).toEqual([0, 1, 2, 0]);
    const random = seededRandom(SEED);
    const freq = Array.from({ length: 300 }, () => Math.floor(1000 * random() ** 4));
    const table = balancedHashTable(freq, 8, 3);
    const top = freq.indexOf(Math.max(...freq));
    expect(table[top * 3]).toBe(0);
    for (let v = 0; v < 300; v++) expect(new Set(table.subarray(v * 3, v * 3 + 3)).size).toBe(3);
    expect(Array.from(balancedHashTable(freq, 4, 4).subarray(0, 4)).sort()).toEqual([0, 1, 2, 3]);
  });

  it('raises SwitchyardError on bad counts, numExperts and topK', () => {
    expect(codeOf(() => balancedHashTable([1, 2], 4, 5))).toBe('range');
    expect(codeOf(() => balancedHashTable([1, 2], 0, 1))).toBe('range');
    expect(codeOf(() => balancedHashTable([1, 2], 4, 1.5))).toBe('range');
    expect(codeOf(() => balancedHashTable([], 4, 1))).toBe('shape');
    expect(codeOf(() => balancedHashTable([1, 2], 2 ** 30, 1))).toBe('range');
    expect(codeOf(() => balancedHashTable(undefined as unknown as number[], 4, 1))).toBe('shape');
    expect(codeOf(() => balancedHashTable([1, -2], 4, 1))).toBe('range');
    expect(codeOf(() => balancedHashTable([1, Number.NaN], 4, 1))).toBe('range');
  });
});
