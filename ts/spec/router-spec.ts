// Validation of RouterSpec into the resolved form the paths consume: every default filled in, every
// field checked against E and k, so a path never sees a spec it would have to second-guess.
import { SwitchyardError, describe } from '../errors.js';
import type { RouterSpec, ScoreFunction } from './types.js';
import { allFinite, booleanFlag, finiteNumber, float32Array, oneOf, positiveInteger } from './check.js';
import { refuseMisspeltFields } from './misspelt-fields.js';

export interface ResolvedCapacity {
  /** C, or undefined to derive it per call as ceil(L·k/E · factor). */
  perExpert: number | undefined;
  factor: number | undefined;
  dropPolicy: 'probs' | 'position';
  padToCapacity: boolean;
  per: 'batch' | 'sequence';
}

export interface ResolvedGroups {
  count: number;
  topk: number;
  /** Group score = sum of its top scoreTopN selection keys (0 makes every group score 0). */
  scoreTopN: number;
  on: 'scores' | 'logits';
}

export interface ResolvedScoring {
  score: ScoreFunction;
  normalize: boolean;
  scale: number;
}

interface Base {
  numExperts: number;
  topK: number;
}

export interface ResolvedTopK extends Base, ResolvedScoring {
  kind: 'topk';
  selectionBias: Float32Array | undefined;
  groups: ResolvedGroups | undefined;
  capacity: ResolvedCapacity | undefined;
}

export interface ResolvedHash extends Base, ResolvedScoring {
  kind: 'hash';
  table: Int32Array | undefined;
  seed: number;
  weights: 'uniform' | 'scores';
}

export interface ResolvedSinkhorn extends Base {
  kind: 'sinkhorn';
  tolerance: number;
  maxIterations: number;
}

export interface ResolvedExpertChoice extends Base {
  kind: 'expert-choice';
  capacityFactor: number;
  minCapacity: number;
}

export interface ResolvedSelf extends Base, ResolvedScoring {
  kind: 'self';
  offset: number | undefined;
  temperature: number;
}

export interface ResolvedRandom extends Base {
  kind: 'random';
  seed: number;
}

export type ResolvedRouterSpec = ResolvedTopK | ResolvedHash | ResolvedSinkhorn | ResolvedExpertChoice | ResolvedSelf | ResolvedRandom;

const ROUTER_KINDS = ['topk', 'hash', 'sinkhorn', 'expert-choice', 'self', 'random'] as const;
const SCORES = ['softmax', 'sigmoid', 'sqrt-softplus'] as const;

function positiveNumber(value: unknown, argument: string): number {
  const v = finiteNumber(value, argument);
  if (v <= 0) throw new SwitchyardError('range', argument, `expected a number > 0, received ${v}`);
  return v;
}

function seedOf(value: unknown, argument: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new SwitchyardError('range', argument, `expected an integer in [0, 2^32), received ${describe(value)}`);
  }
  return value >>> 0;
}

function scoring(s: Record<string, unknown>, argument: string, normalizeDefault: boolean): ResolvedScoring {
  return {
    score: oneOf(s.score, SCORES, `${argument}.score`, 'softmax'),
    normalize: booleanFlag(s.normalize, `${argument}.normalize`, normalizeDefault),
    scale: s.scale === undefined ? 1 : f32Scale(s.scale, `${argument}.scale`),
  };
}

/** Largest finite f32. */
const F32_MAX = 3.4028234663852886e38;

/** A finite scale that f32 holds: the WebGPU router takes it as an f32, where 1e39 is already ∞. */
function f32Scale(value: unknown, argument: string): number {
  const scale = finiteNumber(value, argument);
  if (Math.abs(scale) > F32_MAX) {
    throw new SwitchyardError('range', argument, `expected a scale within f32's range (|scale| ≤ ${F32_MAX}), received ${scale}`);
  }
  return scale;
}

function groupsOf(value: unknown, E: number, k: number, argument: string): ResolvedGroups | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') {
    throw new SwitchyardError('config', argument, `expected { count, topk, scoreTopN?, on? }, received ${describe(value)}`);
  }
  const g = value as Record<string, unknown>;
  refuseMisspeltFields(g, ['count', 'topk', 'scoreTopN', 'on'], argument, 'groups');
  const count = positiveInteger(g.count, `${argument}.count`);
  if (E % count !== 0) {
    throw new SwitchyardError('config', `${argument}.count`, `expected a divisor of numExperts = ${E}, received ${count}`);
  }
  const topk = positiveInteger(g.topk, `${argument}.topk`);
  if (topk > count) {
    throw new SwitchyardError('config', `${argument}.topk`, `expected 1 ≤ groups.topk ≤ groups.count = ${count}, received ${topk}`);
  }
  if (topk * (E / count) < k) {
    throw new SwitchyardError('config', `${argument}.topk`,
      `expected groups.topk ≥ ${Math.ceil(k / (E / count))} (the kept groups of ${E / count} experts must hold topK = ${k}), received ${topk}`);
  }
  let scoreTopN = Math.floor(k / topk);
  if (g.scoreTopN !== undefined) {
    scoreTopN = positiveInteger(g.scoreTopN, `${argument}.scoreTopN`);
    if (scoreTopN > E / count) {
      throw new SwitchyardError('config', `${argument}.scoreTopN`, `expected at most the group size ${E / count}, received ${scoreTopN}`);
    }
  }
  return { count, topk, scoreTopN, on: oneOf(g.on, ['scores', 'logits'] as const, `${argument}.on`, 'scores') };
}

function capacityOf(value: unknown, argument: string): ResolvedCapacity | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') {
    throw new SwitchyardError('config', argument, `expected { factor | perExpert, dropPolicy?, padToCapacity?, per? }, received ${describe(value)}`);
  }
  const c = value as Record<string, unknown>;
  refuseMisspeltFields(c, ['factor', 'perExpert', 'dropPolicy', 'padToCapacity', 'per'], argument, 'capacity');
  // 0 is allowed: every routed slot is dropped (transformers' Switch with expert_capacity 0 does the same).
  const perExpert = c.perExpert === undefined ? undefined : countFrom(0, c.perExpert, `${argument}.perExpert`);
  const factor = c.factor === undefined ? undefined : positiveNumber(c.factor, `${argument}.factor`);
  if (perExpert === undefined && factor === undefined) {
    const given = Object.keys(c);
    throw new SwitchyardError('config', argument, 'expected capacity.factor (> 0) or capacity.perExpert (an integer ≥ 0); received neither' +
      (given.length > 0 ? ` (its fields: ${given.join(', ')})` : ''));
  }
  return {
    perExpert,
    factor,
    dropPolicy: oneOf(c.dropPolicy, ['probs', 'position'] as const, `${argument}.dropPolicy`, 'probs'),
    padToCapacity: booleanFlag(c.padToCapacity, `${argument}.padToCapacity`, false),
    per: oneOf(c.per, ['batch', 'sequence'] as const, `${argument}.per`, 'batch'),
  };
}

/** A selection bias [E]: it ranks experts, so NaN (which orders nowhere) and ±∞ are refused. */
function selectionBiasOf(value: unknown, E: number, argument: string): Float32Array | undefined {
  if (value === undefined) return undefined;
  const bias = float32Array(value, E, `[numExperts=${E}]`, argument);
  allFinite(bias, argument, `[${E}]`);
  return bias;
}

function hashTableOf(value: unknown, E: number, k: number, argument: string): Int32Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Int32Array)) {
    throw new SwitchyardError('dtype', argument, `expected an Int32Array [vocab, topK=${k}], received ${describe(value)}`);
  }
  if (value.length === 0 || value.length % k !== 0) {
    throw new SwitchyardError('shape', argument, `expected an Int32Array [vocab, topK=${k}], received ${describe(value)}`);
  }
  for (let v = 0; v < value.length / k; v++) {
    for (let j = 0; j < k; j++) {
      const e = value[v * k + j];
      if (e < 0 || e >= E) throw new SwitchyardError('range', argument, `expected experts in [0, ${E}), received ${e} for token ${v}`);
      for (let i = 0; i < j; i++) {
        if (value[v * k + i] === e) throw new SwitchyardError('range', argument, `expected ${k} distinct experts per token, token ${v} repeats expert ${e}`);
      }
    }
  }
  return value;
}

/**
 * Most experts a router takes. Every router keeps dense [tokens, numExperts] scores, so a count far past
 * any model's (DeepSeek-V3: 256; fine-grained research MoEs: tens of thousands) is a misread value, refused
 * before it sizes an allocation.
 */
export const MAX_EXPERTS = 1 << 20;

/**
 * Most [tokens, numExperts] scores one call keeps (f64 on the reference path: 1 GiB). A 128k-token prefill
 * over 1024 experts is this size; a call past it is cut into smaller calls by its caller.
 */
export const MAX_TOKEN_EXPERT_SCORES = 1 << 27;

/** Refuses a call whose dense [tokens, numExperts] scores would pass MAX_TOKEN_EXPERT_SCORES. */
export function checkScoresSize(nToken: number, nExpert: number, argument: string): void {
  if (nToken * nExpert > MAX_TOKEN_EXPERT_SCORES) {
    throw new SwitchyardError('limits', argument,
      `expected tokens × numExperts ≤ ${MAX_TOKEN_EXPERT_SCORES} (the dense routing scores of one call), received ${nToken} × ${nExpert}; route in smaller calls`);
  }
}

/**
 * The self router's slice of hidden, [offset, offset + numExperts), checked against dModel. A given offset
 * that does not fit is named; without one the slice is the last numExperts columns, and then the width is
 * what is too small (`width`: the argument that sets dModel, with the code for it).
 */
export function checkSelfSlice(offset: number | undefined, dModel: number, E: number, offsetArgument: string,
  width: { argument: string; code: 'shape' | 'range' }): void {
  const start = offset ?? dModel - E;
  if (start >= 0 && start + E <= dModel) return;
  if (offset === undefined) {
    throw new SwitchyardError(width.code, width.argument, `router 'self' reads numExperts = ${E} columns of hidden, expected dModel ≥ ${E}, received ${dModel}`);
  }
  throw new SwitchyardError('range', offsetArgument, `expected offset + numExperts ≤ dModel = ${dModel}, received offset ${offset} with numExperts ${E}`);
}

/** The fields of each kind's RouterSpec (types.ts). */
const SPEC_FIELDS: Record<RouterSpec['kind'], readonly string[]> = {
  topk: ['kind', 'numExperts', 'topK', 'score', 'normalize', 'scale', 'selectionBias', 'groups', 'capacity'],
  hash: ['kind', 'numExperts', 'topK', 'table', 'seed', 'weights', 'score', 'normalize', 'scale'],
  sinkhorn: ['kind', 'numExperts', 'topK', 'tolerance', 'maxIterations'],
  'expert-choice': ['kind', 'numExperts', 'topK', 'capacityFactor', 'minCapacity'],
  self: ['kind', 'numExperts', 'topK', 'offset', 'temperature', 'score', 'normalize'],
  random: ['kind', 'numExperts', 'topK', 'seed'],
};
/** Any kind's: a field of another kind is not refused as a misspelling (its value is not read). */
const ALL_SPEC_FIELDS = [...new Set(Object.values(SPEC_FIELDS).flat())];

export function resolveRouterSpec(spec: RouterSpec, argument = 'spec'): ResolvedRouterSpec {
  if (spec === null || typeof spec !== 'object') {
    throw new SwitchyardError('config', argument, `expected a RouterSpec object, received ${describe(spec)}`);
  }
  const s = spec as unknown as Record<string, unknown>;
  if (s.kind === undefined) throw new SwitchyardError('config', `${argument}.kind`, `expected one of ${ROUTER_KINDS.map((k) => `'${k}'`).join(', ')}, received undefined`);
  const kind = oneOf(s.kind, ROUTER_KINDS, `${argument}.kind`, 'topk');
  refuseMisspeltFields(s, SPEC_FIELDS[kind], argument, `a '${kind}' RouterSpec`, ALL_SPEC_FIELDS);
  const numExperts = positiveInteger(s.numExperts, `${argument}.numExperts`);
  if (numExperts > MAX_EXPERTS) {
    throw new SwitchyardError('range', `${argument}.numExperts`, `expected at most ${MAX_EXPERTS} experts (routing keeps dense [tokens, numExperts] scores), received ${numExperts}`);
  }
  // Expert choice has one slot per expert whatever else is said: topK may be left out there.
  const topK = kind === 'expert-choice' && s.topK === undefined ? numExperts : positiveInteger(s.topK, `${argument}.topK`);
  if (topK > numExperts) {
    throw new SwitchyardError('range', `${argument}.topK`, `expected 1 ≤ topK ≤ numExperts = ${numExperts}, received ${topK}`);
  }
  const base = { numExperts, topK };
  switch (kind) {
    case 'topk':
      return {
        kind, ...base, ...scoring(s, argument, false),
        selectionBias: selectionBiasOf(s.selectionBias, numExperts, `${argument}.selectionBias`),
        groups: groupsOf(s.groups, numExperts, topK, `${argument}.groups`),
        capacity: capacityOf(s.capacity, `${argument}.capacity`),
      };
    case 'hash':
      return {
        kind, ...base, ...scoring(s, argument, false),
        table: hashTableOf(s.table, numExperts, topK, `${argument}.table`),
        seed: seedOf(s.seed, `${argument}.seed`),
        weights: oneOf(s.weights, ['uniform', 'scores'] as const, `${argument}.weights`, 'uniform'),
      };
    case 'sinkhorn':
      return {
        kind, ...base,
        tolerance: s.tolerance === undefined ? 1e-4 : positiveNumber(s.tolerance, `${argument}.tolerance`),
        maxIterations: s.maxIterations === undefined ? 200 : positiveCount(s.maxIterations, `${argument}.maxIterations`),
      };
    case 'expert-choice':
      // Every token has a slot per expert (it may get any number of them): a smaller k would silently mean E.
      if (topK !== numExperts) {
        throw new SwitchyardError('config', `${argument}.topK`,
          `expected topK = numExperts = ${numExperts} for 'expert-choice' (each token has one slot per expert), received ${topK}`);
      }
      return {
        kind, ...base,
        capacityFactor: positiveNumber(s.capacityFactor, `${argument}.capacityFactor`),
        // A floor: 0 leaves C = round(c·T/E) as it is (which may be 0: every expert then takes no token).
        minCapacity: s.minCapacity === undefined ? 4 : countFrom(0, s.minCapacity, `${argument}.minCapacity`),
      };
    case 'self':
      return {
        kind, ...base, ...scoring(s, argument, true),
        offset: s.offset === undefined ? undefined : nonNegativeInteger(s.offset, `${argument}.offset`),
        temperature: s.temperature === undefined ? 1 : positiveNumber(s.temperature, `${argument}.temperature`),
      };
    case 'random':
      return { kind, ...base, seed: seedOf(s.seed, `${argument}.seed`) };
  }
}

/**
 * A positive integer that only bounds a count (a capacity, an iteration limit), saturated at 2³¹ − 1: every
 * larger value means the same — no call has that many tokens (MAX_TOKEN_EXPERT_SCORES) — and the WASM and
 * WebGPU paths take it as an i32, which would wrap 2³¹ to a negative bound.
 */
function positiveCount(value: unknown, argument: string): number {
  return countFrom(1, value, argument);
}

/** An integer ≥ least, clamped to the i32 range the kernels count in. */
function countFrom(least: 0 | 1, value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < least) {
    throw new SwitchyardError('range', argument, `expected a ${least === 1 ? 'positive' : 'non-negative'} integer, received ${describe(value)}`);
  }
  return Math.min(value, 0x7fffffff);
}

function nonNegativeInteger(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new SwitchyardError('range', argument, `expected a non-negative integer, received ${describe(value)}`);
  }
  return value;
}

/** The width of a routing's per-token arrays: k, or E for expert choice (a token may get any number). */
export function slotsPerToken(spec: ResolvedRouterSpec): number {
  return spec.kind === 'expert-choice' ? spec.numExperts : spec.topK;
}

/** Whether the router reads logits (given, or hidden · weightᵀ + bias). */
export function needsLogits(spec: ResolvedRouterSpec): boolean {
  if (spec.kind === 'self') return false;
  if (spec.kind === 'random') return false;
  if (spec.kind === 'hash') return spec.weights === 'scores';
  return true;
}
