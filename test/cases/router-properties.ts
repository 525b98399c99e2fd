// Seeded property checks of every router kind through route(), hundreds of specs each: the invariants
// DESIGN.md §3 promises hold whatever the shapes (distinct ids, capacity bounds, no renormalisation of
// survivors, earliest tokens kept by 'position', exact expert-choice capacity, normalised weights,
// deterministic hash and random routing).
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

type Api = CaseContext['api'];
type Spec = Parameters<Api['route']>[0];
type Routing = Awaited<ReturnType<Api['route']>>;

/** Sums of k f32 weights against their f64 ideal. */
const SUM_TOLERANCE = 1e-5;
const SEEDS_PER_KIND = 120;

function fail(seed: number, what: string): never {
  throw new CaseFailure(`seed ${seed}: ${what}`);
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function drawShape(random: () => number) {
  const E = pick(random, [1, 2, 3, 4, 6, 8, 16, 32]);
  const k = 1 + Math.floor(random() * E);
  const S = pick(random, [1, 3, 8, 16]);
  const B = pick(random, [1, 2, 5]);
  return { E, k, S, B, T: S * B };
}

function checkIds(seed: number, r: Routing, T: number, width: number, E: number, allowDropped: boolean): void {
  for (let t = 0; t < T; t++) {
    const seen = new Set<number>();
    for (let j = 0; j < width; j++) {
      const e = r.indices[t * width + j];
      if (e === -1) {
        if (!allowDropped) fail(seed, `token ${t} slot ${j} unexpectedly empty`);
        if (r.weights[t * width + j] !== 0) fail(seed, `empty slot of token ${t} has weight ${r.weights[t * width + j]}`);
        continue;
      }
      if (e < 0 || e >= E) fail(seed, `token ${t} routed to expert ${e} of ${E}`);
      if (seen.has(e)) fail(seed, `token ${t} routed twice to expert ${e}`);
      seen.add(e);
    }
  }
}

async function topkProperties(ctx: CaseContext, seed: number): Promise<void> {
  const random = rng(seed);
  const { E, k, S, B, T } = drawShape(random);
  const score = pick(random, ['softmax', 'sigmoid', 'sqrt-softplus'] as const);
  const normalize = random() < 0.5;
  const counts = [1, 2, 4, 8].filter((g) => E % g === 0);
  const count = pick(random, counts);
  const groupTopk = 1 + Math.floor(random() * count);
  const groups = count > 1 && groupTopk * (E / count) >= k && random() < 0.5 ? { count, topk: groupTopk } : undefined;
  const policy = pick(random, ['probs', 'position'] as const);
  const per = pick(random, ['batch', 'sequence'] as const);
  const factor = pick(random, [0.25, 0.5, 1, 1.5]);
  const pad = random() < 0.3;
  const bias = random() < 0.3 ? normal(random, E, 0.1) : undefined;
  const logits = normal(random, T * E, 2);
  const base: Spec = { kind: 'topk', numExperts: E, topK: k, score, normalize, selectionBias: bias, groups };
  const free = await ctx.api.route(base, { tokens: T, logits, sequenceLength: S }, { backend: ctx.backend });
  checkIds(seed, free, T, k, E, false);
  if (normalize) {
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += free.weights[t * k + j];
      if (Math.abs(sum - 1) > SUM_TOLERANCE) fail(seed, `normalised weights of token ${t} sum to ${sum}`);
    }
  }
  const capped = await ctx.api.route(
    { ...base, capacity: { factor, dropPolicy: policy, per, padToCapacity: pad } } as Spec,
    { tokens: T, logits, sequenceLength: S }, { backend: ctx.backend },
  );
  checkIds(seed, capped, T, k, E, true);
  const L = per === 'sequence' ? S : T;
  const C = Math.ceil(((L * k) / E) * factor);
  for (let first = 0; first < T; first += L) {
    for (let e = 0; e < E; e++) {
      const routed: number[] = [];
      const kept: number[] = [];
      for (let t = first; t < first + L; t++) {
        for (let j = 0; j < k; j++) {
          if (free.indices[t * k + j] === e) routed.push(t);
          if (capped.indices[t * k + j] === e) {
            kept.push(t);
            if (capped.weights[t * k + j] !== free.weights[t * k + j]) fail(seed, `survivor ${t} of expert ${e} was reweighted`);
          }
        }
      }
      if (kept.length !== Math.min(C, routed.length)) fail(seed, `expert ${e} kept ${kept.length} of ${routed.length}, capacity ${C}`);
      // Earliest in time: position s, then sequence b (rows are b·S + s), as Megatron's sequence-major order.
      const time = (t: number) => (t % S) * (T / S) + Math.floor(t / S);
      const byTime = [...routed].sort((a, b) => time(a) - time(b)).slice(0, C).sort((a, b) => a - b);
      if (policy === 'position' && kept.some((t, i) => t !== byTime[i])) fail(seed, `expert ${e} did not keep its earliest tokens`);
      const rows = capped.plan.offsets[e + 1] - capped.plan.offsets[e];
      const inGroup = Array.from(capped.plan.rows.subarray(capped.plan.offsets[e], capped.plan.offsets[e + 1])).filter((t) => t >= first && t < first + L).length;
      if (pad && inGroup !== Math.min(C, L)) fail(seed, `expert ${e} holds ${inGroup} padded rows in group ${first / L}, expected ${Math.min(C, L)}`);
      if (!pad && rows !== capped.stats.load[e]) fail(seed, `expert ${e} plan rows ${rows} ≠ load ${capped.stats.load[e]}`);
    }
  }
}

async function hashAndRandomProperties(ctx: CaseContext, seed: number): Promise<void> {
  const random = rng(seed);
  const { E, k, T } = drawShape(random);
  const tokenIds = Int32Array.from({ length: T }, () => Math.floor(random() * 50_000));
  const spec: Spec = random() < 0.5
    ? { kind: 'hash', numExperts: E, topK: k, seed: Math.floor(random() * 1000) }
    : { kind: 'random', numExperts: E, topK: k, seed: Math.floor(random() * 1000) };
  const a = await ctx.api.route(spec, { tokens: T, tokenIds }, { backend: ctx.backend });
  const b = await ctx.api.route(spec, { tokens: T, tokenIds }, { backend: 'reference' });
  checkIds(seed, a, T, k, E, false);
  for (let i = 0; i < a.indices.length; i++) {
    if (a.indices[i] !== b.indices[i]) fail(seed, `${spec.kind} slot ${i}: ${a.indices[i]} on ${ctx.backend}, ${b.indices[i]} on reference`);
    if (Math.abs(a.weights[i] - 1 / k) > 1e-7) fail(seed, `${spec.kind} weight ${a.weights[i]}, expected 1/k`);
  }
}

async function expertChoiceProperties(ctx: CaseContext, seed: number): Promise<void> {
  const random = rng(seed);
  const { E, T } = drawShape(random);
  const c = pick(random, [0.5, 1, 2, 3]);
  // 0: no floor, so small c·T/E gives C = 0 (and 0.5 rounds to it).
  const minCapacity = pick(random, [0, 1, 2, 4]);
  const r = await ctx.api.route({ kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: c, minCapacity },
    { tokens: T, logits: normal(random, T * E, 2) }, { backend: ctx.backend });
  const raw = (c * T) / E;
  const rounded = Math.abs(raw % 1) === 0.5 && Math.round(raw) % 2 !== 0 ? Math.round(raw) - 1 : Math.round(raw);
  const C = Math.min(Math.max(rounded, minCapacity), T);
  checkIds(seed, r, T, E, E, true);
  for (let e = 0; e < E; e++) if (r.stats.load[e] !== C) fail(seed, `expert ${e} took ${r.stats.load[e]} tokens, expected C = ${C}`);
}

/**
 * Expert choice on rows that permute one vector of small integer logits: a token's score at an expert is
 * then fixed by its logit there (every row's softmax has the same denominator), so the expected takers
 * follow from the logits alone — per expert the C highest, equal ones to the lower token index (DESIGN.md
 * §3). In f64 the equal scores of two rows can differ in their last bits (each row sums in its own order);
 * that noise once picked the higher token.
 */
async function expertChoicePermutedRows(ctx: CaseContext): Promise<void> {
  for (let seed = 3500; seed < 3560; seed++) {
    const random = rng(seed);
    const E = 3 + Math.floor(random() * 14);
    const T = 2 + Math.floor(random() * 11);
    const base = Array.from({ length: E }, () => Math.floor(random() * 7) - 3);
    const rows = Array.from({ length: T }, () => {
      const row = base.slice();
      for (let i = E - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [row[i], row[j]] = [row[j], row[i]];
      }
      return row;
    });
    const C = 1 + Math.floor(random() * Math.min(3, T));
    // c·T/E = C exactly: C = round(C) whatever the halves rule.
    const r = await ctx.api.route({ kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: (C * E) / T, minCapacity: 0 },
      { tokens: T, logits: Float32Array.from(rows.flat()) }, { backend: ctx.backend });
    const takers = Array.from({ length: T }, () => [] as number[]);
    for (let e = 0; e < E; e++) {
      const order = Array.from({ length: T }, (_, t) => t).sort((a, b) => rows[b][e] - rows[a][e] || a - b);
      for (const t of order.slice(0, C)) takers[t].push(e);
    }
    for (let t = 0; t < T; t++) {
      const want = takers[t].sort((a, b) => rows[t][b] - rows[t][a] || a - b);
      const got = Array.from(r.indices.subarray(t * E, (t + 1) * E)).filter((e) => e !== -1);
      if (got.join() !== want.join()) fail(seed, `E${E} T${T} C${C}: token ${t} taken by [${got}], expected [${want}] (logits ${rows.map((x) => `[${x}]`).join(' ')})`);
    }
  }
}

/**
 * tokenEntropy over the router's distribution as DESIGN.md §3 defines it, also when every σ score of a token
 * lies below f32's range (logits under ≈ −104): the reported probs are 0 there, the distribution is not.
 */
async function entropyBelowF32(ctx: CaseContext): Promise<void> {
  const E = 4;
  const logits = Float32Array.of(-120, -121, -122, -123, 0.5, -1, 2, 0);
  const T = logits.length / E;
  const r = await ctx.api.route({ kind: 'topk', numExperts: E, topK: 1, score: 'sigmoid' }, { tokens: T, logits }, { backend: ctx.backend });
  let want = 0;
  for (let t = 0; t < T; t++) {
    const s = Array.from(logits.subarray(t * E, (t + 1) * E), (z) => 1 / (1 + Math.exp(-z)));
    const sum = s.reduce((a, b) => a + b, 0);
    want += -s.reduce((h, v) => h + (v / sum) * Math.log(v / sum), 0) / Math.log(E);
  }
  want /= T;
  if (!(Math.abs(r.stats.tokenEntropy - want) <= SUM_TOLERANCE * want)) {
    throw new CaseFailure(`tokenEntropy ${r.stats.tokenEntropy}, expected ${want} (probs of token 0: ${Array.from(r.probs.subarray(0, E)).join()})`);
  }
  if (r.indices[0] !== 0) throw new CaseFailure(`token 0 chose expert ${r.indices[0]}, expected 0 (the largest σ, though 0 in f32)`);
}

function kindCase(kind: string, check: (ctx: CaseContext, seed: number) => Promise<void>, first: number): ConformanceCase {
  return {
    name: `router properties: ${kind}, seeds ${first}..${first + SEEDS_PER_KIND - 1}`,
    backends: ['reference', 'wasm'],
    run: async (ctx) => {
      for (let seed = first; seed < first + SEEDS_PER_KIND; seed++) await check(ctx, seed);
    },
  };
}

/**
 * Bounds past any token count mean no bound, whatever their size: the WASM and WebGPU paths take counts as
 * i32, where 2³¹ once wrapped to a negative capacity (everything dropped) or iteration limit (none run).
 */
async function hugeBounds(ctx: CaseContext): Promise<void> {
  const { api, backend } = ctx;
  const E = 4, k = 2, T = 6;
  const logits = normal(rng(77), T * E);
  // The GPU routes plain top-k itself but capacity on the CPU: the same weights up to f32 rounding.
  const same = (what: string, got: Routing, want: Routing) => {
    if (got.indices.join() !== want.indices.join() || got.weights.some((w, i) => Math.abs(w - want.weights[i]) > SUM_TOLERANCE)) {
      throw new CaseFailure(`${what}: ids ${got.indices.join()} / weights ${got.weights.join()}, expected ${want.indices.join()} / ${want.weights.join()}`);
    }
  };
  const topk = { kind: 'topk' as const, numExperts: E, topK: k };
  const free = await api.route(topk, { tokens: T, logits }, { backend });
  for (const perExpert of [2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, 1e20]) {
    same(`capacity.perExpert ${perExpert}`, await api.route({ ...topk, capacity: { perExpert } }, { tokens: T, logits }, { backend }), free);
  }
  same('capacity.factor 1e300', await api.route({ ...topk, capacity: { factor: 1e300 } }, { tokens: T, logits }, { backend }), free);
  const sinkhorn = { kind: 'sinkhorn' as const, numExperts: E, topK: k };
  same('sinkhorn maxIterations 2³¹', await api.route({ ...sinkhorn, maxIterations: 2 ** 31 }, { tokens: T, logits }, { backend }),
    await api.route({ ...sinkhorn, maxIterations: 100000 }, { tokens: T, logits }, { backend }));
  for (const minCapacity of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
    const r = await api.route({ kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 1, minCapacity }, { tokens: T, logits }, { backend });
    for (let e = 0; e < E; e++) if (r.stats.load[e] !== T) throw new CaseFailure(`expert-choice minCapacity ${minCapacity}: expert ${e} took ${r.stats.load[e]} of ${T} tokens`);
  }
}

/**
 * Expert choice with minCapacity 0 and c·T/E < 0.5: C = 0, so no expert takes a token — every slot −1, and a
 * block built on it outputs zeros. (The WASM kernel once took C = 0 for "keep every token".)
 */
async function zeroCapacity(ctx: CaseContext): Promise<void> {
  const { api, backend } = ctx;
  const E = 8, T = 3, d = 12, f = 8;
  const spec = { kind: 'expert-choice' as const, numExperts: E, topK: E, capacityFactor: 1, minCapacity: 0 };
  const random = rng(78);
  const r = await api.route(spec, { tokens: T, logits: normal(random, T * E) }, { backend });
  if (r.indices.some((e) => e !== -1) || r.weights.some((w) => w !== 0) || r.plan.rows.length !== 0) {
    throw new CaseFailure(`C = 0: expected no assignment, got ids ${r.indices.join()} and ${r.plan.rows.length} plan rows`);
  }
  await expectZeroOutput(ctx, 'C = 0', { dModel: d, router: spec, expert: { dFF: f, activation: 'swiglu' } }, {
    'router.weight': normal(random, E * d), 'experts.gate': normal(random, E * f * d),
    'experts.up': normal(random, E * f * d), 'experts.down': normal(random, E * d * f),
  }, normal(random, T * d), T);
}

/** A block whose router assigns nothing outputs exactly zeros. */
async function expectZeroOutput(
  ctx: CaseContext, what: string, config: Parameters<Api['createMoE']>[0], weights: Parameters<Api['createMoE']>[1],
  hidden: Float32Array, T: number, sequenceLength?: number,
): Promise<void> {
  const moe = await ctx.api.createMoE(config, weights, { backend: ctx.backend });
  try {
    const { output } = await moe.forward(hidden, { tokens: T, sequenceLength });
    if (output.length !== hidden.length || output.some((x) => x !== 0)) throw new CaseFailure(`${what}: expected a zero output, got ${Array.from(output.slice(0, 6)).join()} …`);
  } finally {
    moe.destroy();
  }
}

/**
 * capacity.perExpert 0 (transformers' Switch with expert_capacity 0): every routed slot is dropped, under each
 * drop policy, with and without padding, per batch and per sequence; a block built on it outputs zeros.
 */
async function zeroPerExpert(ctx: CaseContext): Promise<void> {
  const { api, backend } = ctx;
  const E = 4, k = 2, S = 3, B = 2, T = S * B, d = 8, f = 6;
  const random = rng(79);
  const logits = normal(random, T * E);
  for (const dropPolicy of ['probs', 'position'] as const) {
    for (const padToCapacity of [false, true]) {
      for (const per of ['batch', 'sequence'] as const) {
        const spec = { kind: 'topk' as const, numExperts: E, topK: k, capacity: { perExpert: 0, dropPolicy, padToCapacity, per } };
        const r = await api.route(spec, { tokens: T, logits, sequenceLength: S }, { backend });
        const what = `${dropPolicy}${padToCapacity ? ' padded' : ''} per ${per}`;
        if (r.indices.some((e) => e !== -1) || r.weights.some((w) => w !== 0) || r.plan.rows.length !== 0) {
          throw new CaseFailure(`${what}: expected no assignment, got ids ${r.indices.join()} and ${r.plan.rows.length} plan rows`);
        }
        if (r.stats.dropped !== T * k || r.stats.load.some((n) => n !== 0)) {
          throw new CaseFailure(`${what}: dropped ${r.stats.dropped} (expected ${T * k}), load ${r.stats.load.join()}`);
        }
      }
    }
  }
  await expectZeroOutput(ctx, 'perExpert 0', {
    dModel: d, router: { kind: 'topk', numExperts: E, topK: 1, capacity: { perExpert: 0, dropPolicy: 'position', per: 'sequence' } },
    expert: { dFF: f, activation: 'relu' },
  }, { 'router.weight': normal(random, E * d), 'experts.up': normal(random, E * f * d), 'experts.down': normal(random, E * d * f) }, normal(random, T * d), T, S);
}

export const routerPropertyCases: ConformanceCase[] = [
  { name: 'router properties: capacity.perExpert 0 drops every slot, under every policy, and a block outputs zeros', backends: ['reference', 'wasm', 'webgpu'], run: zeroPerExpert },
  { name: 'router properties: expert choice with C = 0 (minCapacity 0) assigns nothing and outputs zeros', backends: ['reference', 'wasm', 'webgpu'], run: zeroCapacity },
  { name: 'router properties: tokenEntropy counts σ scores below f32\'s range', backends: ['reference', 'wasm', 'webgpu'], run: entropyBelowF32 },
  { name: 'router properties: capacities and iteration limits of 2³¹ and beyond mean no bound', backends: ['reference', 'wasm', 'webgpu'], run: hugeBounds },
  kindCase('topk (scores, groups, bias, capacity)', topkProperties, 1000),
  kindCase('hash and random', hashAndRandomProperties, 2000),
  kindCase('expert choice', expertChoiceProperties, 3000),
  { name: 'router properties: expert choice on rows permuting the same logits: equal scores go to the lower token', backends: ['reference', 'wasm'], run: expertChoicePermutedRows },
];
