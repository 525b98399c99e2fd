// Host side of the WASM router: every RouterSpec kind through the kernels in assembly/router/. The host
// only copies inputs into the scratch, calls kernels in order and copies results out; the math (scores,
// selection, hash, Sinkhorn, expert choice, capacity, plan, stats, losses) runs in WASM. Mirrors
// ts/reference/routers/route.ts step for step, so the two can be compared on every spec.
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import { slotsPerToken } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import type { ScoreFunction } from '../spec/types.js';
import type { RoutingCore } from './backend.js';
import { copyIn, Scratch, type WasmHeap } from './wasm-heap.js';
import { positionOrder } from '../reference/routers/capacity.js';

/** The router kernels' exports (assembly/index.ts); pointers are byte offsets, 0 = none. */
export interface WasmRouterExports {
  routerLogits(hidden: number, weight: number, bias: number, out: number, nToken: number, dModel: number, nExpert: number): void;
  selfLogits(hidden: number, out: number, nToken: number, dModel: number, nExpert: number, offset: number, temperature: number): void;
  scoreLogits(logits: number, nToken: number, nExpert: number, fn: number, scores: number, probs: number, lse: number): void;
  selectTopK(
    scores: number, logits: number, bias: number, nToken: number, nExpert: number, k: number,
    nGroup: number, groupTopk: number, scoreTopN: number, onLogits: number,
    normalize: number, scale: number, work: number, indices: number, weights: number,
  ): void;
  gatherWeights(scores: number, indices: number, nToken: number, nExpert: number, k: number, normalize: number, scale: number, weights: number): void;
  topKRows(keys: number, nRow: number, n: number, k: number, out: number): void;
  hashExperts(tokenIds: number, table: number, seed: number, nToken: number, nExpert: number, k: number, indices: number, weights: number): void;
  denseWeights(indices: number, weights: number, nToken: number, nExpert: number, k: number, dense: number, probs: number): void;
  sinkhorn(logits: number, nToken: number, nExpert: number, tolerance: number, maxIterations: number,
    c: number, rowEps: number, d0: number, d1: number, next: number): number;
  expertChoice(scores: number, nToken: number, nExpert: number, capacityFactor: number, minCapacity: number,
    heap: number, count: number, indices: number, weights: number): number;
  expertChoiceCapacity(capacityFactor: number, minCapacity: number, nToken: number, nExpert: number): number;
  expertCapacity(perExpert: number, factor: number, L: number, k: number, nExpert: number): number;
  applyCapacity(indices: number, weights: number, nToken: number, k: number, nExpert: number, L: number, C: number, byProbs: number,
    list: number, offsets: number, cursor: number, heap: number): number;
  buildPlan(indices: number, weights: number, nToken: number, k: number, nExpert: number,
    offsets: number, rows: number, planWeights: number, slots: number, cursor: number): number;
  buildPaddedPlan(indices: number, weights: number, nToken: number, k: number, nExpert: number, L: number, C: number,
    offsets: number, rows: number, planWeights: number, slots: number, list: number, groupOffsets: number, cursor: number): number;
  routingStats(offsets: number, slots: number, scores: number, nToken: number, nExpert: number, k: number, routed: number, load: number, out: number,
    logits: number): void;
  auxLoss(scores: number, nToken: number, nExpert: number, k: number, S: number, normalizeRows: number, selected: number, work: number, out: number): void;
  zLoss(logits: number, lse: number, nToken: number, nExpert: number): number;
}

export const ROUTER_EXPORTS = [
  'routerLogits', 'selfLogits', 'scoreLogits', 'selectTopK', 'gatherWeights', 'topKRows', 'hashExperts', 'denseWeights',
  'sinkhorn', 'expertChoice', 'expertChoiceCapacity', 'expertCapacity', 'applyCapacity', 'buildPlan', 'buildPaddedPlan',
  'routingStats', 'auxLoss', 'zLoss',
] as const;

/** Codes of assembly/router/scores.ts. */
const SCORE_CODE: Record<ScoreFunction, number> = { softmax: 0, sigmoid: 1, 'sqrt-softplus': 2 };
/** Order of the f64 stats written by assembly/router/stats.ts. */
const STAT_COUNT = 7;

type LogitSource = 'given' | 'matmul' | 'self' | 'none';

/** Where the logits come from, exactly as the reference's logitsOf decides. */
function logitSource(spec: ResolvedRouterSpec, data: RouterData): LogitSource {
  if (spec.kind === 'self') return 'self';
  if (data.logits) return 'given';
  return data.weight ? 'matmul' : 'none';
}

/** Byte offsets of one call's scratch regions; a region a call does not use is 0 bytes long. */
interface Regions {
  hidden: number; // [nToken, dModel] f32
  weight: number; // [nExpert, dModel] f32
  bias: number; // [nExpert] f32
  logits: number; // [nToken, nExpert] f32
  scores: number; // [nToken, nExpert] f64: scores, or the dense mixing weights
  plan: number; // [nToken, nExpert] f64: Sinkhorn's plan, then its σ(z) scores
  probs: number; // [nToken, nExpert] f32
  lse: number; // [nToken] f64
  tokenIds: number; // [nToken] i32
  table: number; // [vocab, k] i32
  selectionBias: number; // [nExpert] f32
  indices: number; // [nToken, K] i32
  weights: number; // [nToken, K] f32
  work: number; // kernel scratch, the largest any step needs
  offsets: number; // [nExpert + 1] i32
  rows: number; // [R] i32
  planWeights: number; // [R] f32
  slots: number; // [R] i32
  cursor: number; // [nExpert] i32
  load: number; // [nExpert] i32
  stats: number; // [STAT_COUNT] f64
  losses: number; // [2] f64
}

/** Reserves the whole call at once, then takes the regions in declaration order (each guarded). */
function carve(scratch: Scratch, bytes: Regions): Regions {
  let total = 0;
  for (const key in bytes) total += Scratch.span(bytes[key as keyof Regions]);
  scratch.reserve(total);
  const out = {} as Regions;
  for (const key in bytes) out[key as keyof Regions] = scratch.take(bytes[key as keyof Regions]);
  return out;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

export function routeOnWasm(wasm: WasmRouterExports, heap: WasmHeap, scratch: Scratch, spec: ResolvedRouterSpec, data: RouterData): RoutingCore {
  const T = data.nToken;
  const E = spec.numExperts;
  const k = spec.topK;
  const K = slotsPerToken(spec);
  const S = data.sequenceLength;
  const d = data.dModel ?? 0;
  const source = logitSource(spec, data);
  const capacity = spec.kind === 'topk' ? spec.capacity : undefined;
  // Capacity's group length L and C are needed to size the padded plan before anything runs.
  const L = capacity && capacity.per === 'sequence' && S !== undefined ? S : T;
  const C = capacity ? wasm.expertCapacity(capacity.perExpert ?? 0, capacity.factor ?? 0, L, k, E) : 0;
  const padded = capacity?.padToCapacity === true;
  const nRow = padded ? E * (T / L) * Math.min(C, L) : T * K;
  const table = spec.kind === 'hash' ? spec.table : undefined;
  const selectionBias = spec.kind === 'topk' ? spec.selectionBias : undefined;
  const TE = T * E;
  const work = Math.max(
    32 * E, // selectTopK: keys and logit keys f64 [E] each, then groups: scores f64 [count], order and kept i32
    align16(40 * E) + 4 * K, // auxLoss: row, Σp, counts, per-sequence Σp and counts, chosen
    spec.kind === 'sinkhorn' ? 16 * T + 16 * E : 0, // rowEps, d0, d1, next
    spec.kind === 'expert-choice' ? 8 * T : 0, // heap, count
    capacity ? 4 * (L * k + 2 * E + 1 + L) : 0, // list, offsets, cursor, heap (also the padded plan's)
  );
  const r = carve(scratch, {
    hidden: source === 'self' || source === 'matmul' ? 4 * T * d : 0,
    weight: source === 'matmul' ? 4 * E * d : 0,
    bias: source === 'matmul' && data.bias ? 4 * E : 0,
    logits: source === 'none' ? 0 : 4 * TE,
    scores: 8 * TE,
    plan: spec.kind === 'sinkhorn' ? 8 * TE : 0,
    probs: 4 * TE,
    lse: 8 * T,
    tokenIds: spec.kind === 'hash' ? 4 * T : 0,
    table: table ? 4 * table.length : 0,
    selectionBias: selectionBias ? 4 * E : 0,
    indices: 4 * T * K,
    weights: 4 * T * K,
    work,
    offsets: 4 * (E + 1),
    rows: 4 * nRow,
    planWeights: 4 * nRow,
    slots: 4 * nRow,
    cursor: 4 * E,
    load: 4 * E,
    stats: 8 * STAT_COUNT,
    losses: 16,
  });
  const f32 = heap.f32;
  const i32 = heap.i32;

  if (source === 'given') {
    copyIn(f32, data.logits!, TE, r.logits >>> 2);
  } else if (source === 'matmul') {
    copyIn(f32, data.hidden!, T * d, r.hidden >>> 2);
    copyIn(f32, data.weight!, E * d, r.weight >>> 2);
    if (data.bias) copyIn(f32, data.bias, E, r.bias >>> 2);
    wasm.routerLogits(r.hidden, r.weight, data.bias ? r.bias : 0, r.logits, T, d, E);
  } else if (source === 'self') {
    copyIn(f32, data.hidden!, T * d, r.hidden >>> 2);
    const offset = spec.kind === 'self' && spec.offset !== undefined ? spec.offset : d - E;
    wasm.selfLogits(r.hidden, r.logits, T, d, E, offset, spec.kind === 'self' ? spec.temperature : 1);
  }

  // What the aux loss reads (DESIGN.md §3 losses; the reference's lossProbs), and whether the selection's
  // own top-k may stand in for the loss's: only when it ranked these very scores (softmax, no bias/groups).
  let lossScores = r.scores;
  let lossNormalize = 0;
  let lossSelected = 0;
  let lseReady = false;
  let routed = T * k;
  const softmaxScores = (probs: boolean): void => {
    wasm.scoreLogits(r.logits, T, E, SCORE_CODE.softmax, r.scores, probs ? r.probs : 0, r.lse);
    lseReady = true;
  };

  switch (spec.kind) {
    case 'topk':
    case 'self': {
      const code = SCORE_CODE[spec.score];
      if (code === SCORE_CODE.softmax) softmaxScores(true);
      else wasm.scoreLogits(r.logits, T, E, code, r.scores, r.probs, 0);
      const groups = spec.kind === 'topk' ? spec.groups : undefined;
      if (selectionBias) copyIn(f32, selectionBias, E, r.selectionBias >>> 2);
      wasm.selectTopK(r.scores, r.logits, selectionBias ? r.selectionBias : 0, T, E, k,
        groups?.count ?? 0, groups?.topk ?? 0, groups?.scoreTopN ?? 0, groups?.on === 'logits' ? 1 : 0,
        spec.normalize ? 1 : 0, spec.scale, r.work, r.indices, r.weights);
      lossNormalize = code === SCORE_CODE.softmax ? 0 : 1;
      if (code === SCORE_CODE.softmax && !selectionBias && !groups) lossSelected = r.indices;
      break;
    }
    case 'hash':
    case 'random': {
      if (spec.kind === 'hash') copyIn(i32, data.tokenIds!, T, r.tokenIds >>> 2);
      if (table) copyIn(i32, table, table.length, r.table >>> 2);
      const byScores = spec.kind === 'hash' && spec.weights === 'scores';
      wasm.hashExperts(spec.kind === 'hash' ? r.tokenIds : 0, table ? r.table : 0, spec.seed, T, E, k, r.indices, byScores ? 0 : r.weights);
      if (source !== 'none') {
        const score = spec.kind === 'hash' ? spec.score : 'softmax';
        if (score === 'softmax') softmaxScores(true);
        else wasm.scoreLogits(r.logits, T, E, SCORE_CODE[score], r.scores, r.probs, 0);
        if (byScores && spec.kind === 'hash') wasm.gatherWeights(r.scores, r.indices, T, E, k, spec.normalize ? 1 : 0, spec.scale, r.weights);
        lossNormalize = score === 'softmax' ? 0 : 1;
      } else {
        wasm.denseWeights(r.indices, r.weights, T, E, k, r.scores, r.probs);
      }
      break;
    }
    case 'sinkhorn': {
      // Softmax: the mixing weights when k > 1, and the logsumexp of the z-loss. The plan only selects.
      softmaxScores(k > 1);
      const w = r.work;
      wasm.sinkhorn(r.logits, T, E, spec.tolerance, spec.maxIterations, r.plan, w, w + 8 * T, w + 16 * T, w + 16 * T + 8 * E);
      wasm.topKRows(r.plan, T, E, k, r.indices);
      // Megatron-Core mixes with the original logits: σ(z) for top-1, softmax over E otherwise, no renorm.
      if (k === 1) wasm.scoreLogits(r.logits, T, E, SCORE_CODE.sigmoid, r.plan, r.probs, 0);
      wasm.gatherWeights(k === 1 ? r.plan : r.scores, r.indices, T, E, k, 0, 1, r.weights);
      // The aux loss reads the scores routing.probs reports, σ sum-normalised when k = 1 (as the reference).
      if (k === 1) {
        lossScores = r.plan;
        lossNormalize = 1;
      }
      break;
    }
    case 'expert-choice': {
      softmaxScores(true);
      const c = wasm.expertChoice(r.scores, T, E, spec.capacityFactor, spec.minCapacity, r.work, r.work + 4 * T, r.indices, r.weights);
      routed = c * E;
      break;
    }
  }

  // The aux loss counts a plain top-k, before capacity drops anything.
  wasm.auxLoss(lossScores, T, E, K, S ?? 0, lossNormalize, lossSelected, r.work, r.losses);
  const listBytes = 4 * L * k;
  const capOffsets = r.work + listBytes;
  const capCursor = capOffsets + 4 * (E + 1);
  if (capacity) {
    // 'position' over several sequences ranks by time (reference positionOrder): the kernel, which keeps the
    // earliest slots, sees the rows in that order, and they go back after.
    const byTime = capacity.dropPolicy === 'position' ? positionOrder(capacity, T, S) : undefined;
    if (byTime) reorderTokens(heap, r.indices, r.weights, T, k, byTime, false);
    wasm.applyCapacity(r.indices, r.weights, T, k, E, L, C, capacity.dropPolicy === 'probs' ? 1 : 0,
      r.work, capOffsets, capCursor, capCursor + 4 * E);
    if (byTime) reorderTokens(heap, r.indices, r.weights, T, k, byTime, true);
  }
  const rows = padded
    ? wasm.buildPaddedPlan(r.indices, r.weights, T, k, E, L, C, r.offsets, r.rows, r.planWeights, r.slots, r.work, capOffsets, capCursor)
    : wasm.buildPlan(r.indices, r.weights, T, K, E, r.offsets, r.rows, r.planWeights, r.slots, r.cursor);
  // Where the scores the token entropy reads are the softmax of these logits, it takes their logs from them.
  const softmaxOfLogits = lseReady && lossScores === r.scores;
  wasm.routingStats(r.offsets, r.slots, lossScores, T, E, K, routed, r.load, r.stats, softmaxOfLogits ? r.logits : 0);
  const z = source === 'none' ? 0 : wasm.zLoss(r.logits, lseReady ? r.lse : 0, T, E);
  scratch.check('route');

  const out32 = heap.f32;
  const outI32 = heap.i32;
  const f64 = heap.f64;
  const st = r.stats >>> 3;
  const logits = source === 'given' ? data.logits! : source === 'none' ? new Float32Array(0) : out32.slice(r.logits >>> 2, (r.logits >>> 2) + TE);
  const losses: RoutingCore['losses'] = { aux: f64[r.losses >>> 3], z };
  if (S !== undefined) losses.seqAux = f64[(r.losses >>> 3) + 1];
  return {
    indices: outI32.slice(r.indices >>> 2, (r.indices >>> 2) + T * K),
    weights: out32.slice(r.weights >>> 2, (r.weights >>> 2) + T * K),
    probs: out32.slice(r.probs >>> 2, (r.probs >>> 2) + TE),
    logits,
    plan: {
      offsets: outI32.slice(r.offsets >>> 2, (r.offsets >>> 2) + E + 1),
      rows: outI32.slice(r.rows >>> 2, (r.rows >>> 2) + rows),
      weights: out32.slice(r.planWeights >>> 2, (r.planWeights >>> 2) + rows),
      slots: outI32.slice(r.slots >>> 2, (r.slots >>> 2) + rows),
    },
    stats: {
      load: outI32.slice(r.load >>> 2, (r.load >>> 2) + E),
      dropped: f64[st], droppedFraction: f64[st + 1], tokenEntropy: f64[st + 2], loadEntropy: f64[st + 3],
      maxOverMean: f64[st + 4], cv: f64[st + 5], deadExperts: f64[st + 6],
    },
    losses,
  };
}

/** Moves each token's k slots (indices, weights in the heap) from row t to row order(t), or back. */
function reorderTokens(heap: WasmHeap, indices: number, weights: number, T: number, k: number, order: (t: number) => number, back: boolean): void {
  const ind = heap.i32.subarray(indices >>> 2, (indices >>> 2) + T * k);
  const w = heap.f32.subarray(weights >>> 2, (weights >>> 2) + T * k);
  const ind0 = ind.slice();
  const w0 = w.slice();
  for (let t = 0; t < T; t++) {
    const dst = back ? t : order(t);
    const src = back ? order(t) : t;
    ind.set(ind0.subarray(src * k, src * k + k), dst * k);
    w.set(w0.subarray(src * k, src * k + k), dst * k);
  }
}
