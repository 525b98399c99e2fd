// Seeded RouterSpec + RouterInput generators for every router kind, for comparing a path's route() with
// the oracle: random E, k (including k = E), T (including 1), groups, selection bias, capacity with every
// policy / pad / per combination, sequenceLength, hash with and without a table, Sinkhorn, expert choice,
// self with offsets and temperature, random. Every case is reproducible from (kind, seed) in its name.
import type { RouterInput, RouterSpec, ScoreFunction } from '../../ts/spec/types.js';
import { rng } from './rng.js';

export type RouterKind = 'topk' | 'hash' | 'sinkhorn' | 'expert-choice' | 'self' | 'random';
export const ROUTER_KINDS: readonly RouterKind[] = ['topk', 'hash', 'sinkhorn', 'expert-choice', 'self', 'random'];

export interface RouterCase {
  name: string;
  spec: RouterSpec;
  input: RouterInput;
}

/** Sizes that hit the edges: one expert, odd counts, powers of two, and 64 (a common production E). */
const EXPERT_COUNTS = [1, 2, 3, 4, 6, 7, 8, 12, 16, 33, 64];
const SCORES: readonly ScoreFunction[] = ['softmax', 'sigmoid', 'sqrt-softplus'];

type Random = () => number;
const int = (r: Random, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1)); // [lo, hi]
const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const divisors = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

/**
 * Tie-free logits [T, E]: each row is a shuffled ladder of distinct levels (gap `spread`/E) plus a jitter
 * under a quarter gap, so no two scores of a row are within far more than f32 or f64 rounding of each
 * other. With `ties`, values come from a coarse grid instead, so exact ties are everywhere.
 */
export function routerLogits(r: Random, T: number, E: number, ties: boolean, spread = 6): Float32Array {
  const z = new Float32Array(T * E);
  const order = Array.from({ length: E }, (_, e) => e);
  for (let t = 0; t < T; t++) {
    if (ties) {
      for (let e = 0; e < E; e++) z[t * E + e] = int(r, -2, 2) * 0.5;
      continue;
    }
    for (let i = E - 1; i > 0; i--) {
      const j = int(r, 0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const gap = spread / E;
    const shift = (r() - 0.5) * spread;
    for (let e = 0; e < E; e++) z[t * E + e] = shift + (order[e] - E / 2) * gap + (r() - 0.5) * gap * 0.5;
  }
  return z;
}

function uniform(r: Random, n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** Logits given, or hidden + router weight (+ bias) for the path's own matmul. */
function logitInput(r: Random, T: number, E: number, ties: boolean): Pick<RouterInput, 'logits' | 'hidden' | 'weight' | 'bias'> {
  if (ties || r() < 0.7) return { logits: routerLogits(r, T, E, ties) };
  const d = int(r, 1, 40);
  return { hidden: uniform(r, T * d, 1), weight: uniform(r, E * d, 2 / Math.sqrt(d)), ...(r() < 0.5 ? { bias: uniform(r, E, 0.5) } : {}) };
}

function shape(r: Random): { E: number; T: number; k: number } {
  const E = pick(r, EXPERT_COUNTS);
  const T = r() < 0.15 ? 1 : int(r, 1, 64);
  const k = r() < 0.15 ? E : int(r, 1, E);
  return { E, T, k };
}

function sequenceLength(r: Random, T: number): number | undefined {
  return r() < 0.5 ? pick(r, divisors(T)) : undefined;
}

function topkCase(r: Random, ties: boolean): RouterSpec {
  const { E, k } = shape(r);
  const spec: Record<string, unknown> = { kind: 'topk', numExperts: E, topK: k, score: pick(r, SCORES), normalize: r() < 0.5 };
  if (r() < 0.3) spec.scale = pick(r, [2.5, 0.5, 16, -1]);
  if (r() < 0.5) spec.selectionBias = ties ? Float32Array.from({ length: E }, () => int(r, 0, 1) * 0.25) : uniform(r, E, 0.3);
  const counts = divisors(E).filter((c) => c > 1);
  if (counts.length > 0 && r() < 0.4) {
    const count = pick(r, counts);
    const size = E / count;
    const topk = int(r, Math.ceil(k / size), count);
    spec.groups = { count, topk, ...(r() < 0.5 ? { scoreTopN: int(r, 1, size) } : {}), ...(r() < 0.5 ? { on: pick(r, ['scores', 'logits']) } : {}) };
  }
  if (r() < 0.6) {
    spec.capacity = {
      ...(r() < 0.5 ? { factor: pick(r, [0.25, 0.5, 1, 1.25, 2]) * (0.9 + 0.2 * r()) } : { perExpert: int(r, 1, 12) }),
      dropPolicy: pick(r, ['probs', 'position']),
      padToCapacity: r() < 0.5,
      per: pick(r, ['batch', 'sequence']),
    };
  }
  return spec as unknown as RouterSpec;
}

/** One random case of `kind`; `ties` draws logits (and bias) from a coarse grid so exact ties abound. */
export function randomRouterCase(kind: RouterKind, seed: number, ties = false): RouterCase {
  const r = rng(seed * 7919 + ROUTER_KINDS.indexOf(kind) + (ties ? 104729 : 0));
  let spec: RouterSpec;
  let input: RouterInput;
  switch (kind) {
    case 'topk': {
      spec = topkCase(r, ties);
      const T = r() < 0.15 ? 1 : int(r, 1, 64);
      input = { tokens: T, ...logitInput(r, T, spec.numExperts, ties), sequenceLength: sequenceLength(r, T) };
      break;
    }
    case 'hash': {
      const { E, T, k } = shape(r);
      const vocab = int(r, 1, 100);
      const table = r() < 0.5 ? hashTable(r, vocab, E, k) : undefined;
      const weights = r() < 0.5 ? 'scores' : 'uniform';
      spec = {
        kind, numExperts: E, topK: k, seed: r() < 0.3 ? 0 : int(r, 0, 0xffffffff), weights, ...(table ? { table } : {}),
        score: pick(r, SCORES), normalize: r() < 0.5, ...(r() < 0.3 ? { scale: 2 } : {}),
      } as RouterSpec;
      const ids = Int32Array.from({ length: T }, () => (table ? int(r, 0, vocab - 1) : int(r, 0, 0x7fffffff)));
      const withLogits = weights === 'scores' || r() < 0.4;
      input = { tokens: T, tokenIds: ids, ...(withLogits ? logitInput(r, T, E, ties) : {}), sequenceLength: sequenceLength(r, T) };
      break;
    }
    case 'sinkhorn': {
      const { E, T, k } = shape(r);
      spec = { kind, numExperts: E, topK: k, tolerance: pick(r, [1e-4, 1e-6, 1e-2]), maxIterations: pick(r, [200, 1, 5, 1000]) };
      input = { tokens: T, ...logitInput(r, T, E, ties), sequenceLength: sequenceLength(r, T) };
      break;
    }
    case 'expert-choice': {
      const E = pick(r, EXPERT_COUNTS);
      const T = r() < 0.15 ? 1 : int(r, 1, 64);
      // Some factors put c·T/E exactly on a half, where round-half-even decides.
      const capacityFactor = r() < 0.3 ? ((int(r, 0, 6) + 0.5) * E) / T : 0.1 + 3.9 * r();
      spec = { kind, numExperts: E, topK: E, capacityFactor, ...(r() < 0.5 ? { minCapacity: int(r, 1, 8) } : {}) };
      input = { tokens: T, ...logitInput(r, T, E, ties), sequenceLength: sequenceLength(r, T) };
      break;
    }
    case 'self': {
      const { E, T, k } = shape(r);
      const d = E + int(r, 0, 24);
      spec = {
        kind, numExperts: E, topK: k, score: pick(r, SCORES),
        ...(r() < 0.5 ? { offset: int(r, 0, d - E) } : {}), ...(r() < 0.5 ? { temperature: 0.3 + 2 * r() } : {}),
        ...(r() < 0.5 ? { normalize: r() < 0.5 } : {}),
      } as RouterSpec;
      const hidden = ties ? Float32Array.from({ length: T * d }, () => int(r, -2, 2) * 0.5) : selfHidden(r, T, d);
      input = { tokens: T, hidden, sequenceLength: sequenceLength(r, T) };
      break;
    }
    case 'random': {
      const { E, T, k } = shape(r);
      spec = { kind, numExperts: E, topK: k, seed: int(r, 0, 0xffffffff) };
      input = { tokens: T, ...(r() < 0.3 ? logitInput(r, T, E, ties) : {}), sequenceLength: sequenceLength(r, T) };
      break;
    }
  }
  return { name: `${kind}${ties ? ' ties' : ''} seed ${seed}: ${describeCase(spec, input)}`, spec, input };
}

/** Hidden states whose every row is tie-free (any slice of it is a tie-free row of logits). */
function selfHidden(r: Random, T: number, d: number): Float32Array {
  return routerLogits(r, T, d, false, 8);
}

/** A valid table [vocab, k]: k distinct experts per token. */
function hashTable(r: Random, vocab: number, E: number, k: number): Int32Array {
  const table = new Int32Array(vocab * k);
  const experts = Array.from({ length: E }, (_, e) => e);
  for (let v = 0; v < vocab; v++) {
    for (let j = 0; j < k; j++) {
      const i = int(r, j, E - 1);
      [experts[i], experts[j]] = [experts[j], experts[i]];
      table[v * k + j] = experts[j];
    }
  }
  return table;
}

/** The parameters, printed with every case so a failure names what to reproduce. */
export function describeCase(spec: RouterSpec, input: RouterInput): string {
  const fields = Object.entries(spec)
    .filter(([key]) => key !== 'kind')
    .map(([key, v]) => `${key}=${ArrayBuffer.isView(v) ? `[${(v as Int32Array).length}]` : JSON.stringify(v)}`);
  const from = input.logits ? 'logits' : input.weight ? `hidden·Wᵀ d${input.hidden!.length / input.tokens}${input.bias ? '+b' : ''}` : input.hidden ? 'hidden' : 'ids';
  return `T${input.tokens} ${fields.join(' ')} from ${from}${input.sequenceLength ? ` S${input.sequenceLength}` : ''}`;
}
