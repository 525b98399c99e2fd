// The reference router: every RouterSpec kind from logits / hidden states / token ids to a RoutingCore
// (selection, plan, stats, losses). Each kind's math lives in its own file; this file only wires them.
import type { RouterData } from '../../spec/router-input.js';
import { slotsPerToken, type ResolvedRouterSpec, type ResolvedScoring } from '../../spec/router-spec.js';
import type { RoutingCore } from '../../backends/backend.js';
import { routerLogits } from '../router-logits.js';
import { buildPlan, type PlanPadding } from '../plan.js';
import { routingStats } from '../stats.js';
import { auxLosses, zLoss } from '../losses.js';
import { topKIndices } from '../topk.js';
import { lossDistribution, scoreLogits } from './scores.js';
import { RENORM_EPSILON, selectTopK } from './select-topk.js';
import { applyCapacity } from './capacity.js';
import { hashExperts } from './hash.js';
import { sinkhorn } from './sinkhorn.js';
import { expertChoice, expertChoiceCapacity } from './expert-choice.js';

interface Selected {
  indices: Int32Array; // [nToken, slots]
  weights: Float32Array; // [nToken, slots]
  probs: Float64Array; // [nToken, nExpert]
  lossProbs: Float64Array; // [nToken, nExpert]
  padding?: PlanPadding;
  routed: number;
}

/** logits [nToken, nExpert]: given, computed from hidden · weightᵀ + bias, or none. */
function logitsOf(spec: ResolvedRouterSpec, data: RouterData): Float32Array | undefined {
  if (spec.kind === 'self') {
    const d = data.dModel!;
    const E = spec.numExperts;
    const offset = spec.offset ?? d - E;
    const z = new Float32Array(data.nToken * E);
    for (let t = 0; t < data.nToken; t++) {
      for (let e = 0; e < E; e++) z[t * E + e] = data.hidden![t * d + offset + e] / spec.temperature;
    }
    return z;
  }
  if (data.logits) return data.logits;
  if (data.weight) {
    return routerLogits({ hidden: data.hidden!, weight: data.weight, bias: data.bias, nToken: data.nToken, dModel: data.dModel!, nExpert: spec.numExperts });
  }
  return undefined;
}

/** Mixing weights as a distribution over experts, for routers that have no scores of their own. */
function denseWeights(indices: Int32Array, weights: Float32Array, nToken: number, nExpert: number, k: number): Float64Array {
  const p = new Float64Array(nToken * nExpert);
  for (let s = 0; s < nToken * k; s++) if (indices[s] >= 0) p[Math.floor(s / k) * nExpert + indices[s]] += weights[s];
  return p;
}

/** Gate scores gathered at given experts (DeepSeek-V4 hash layers): renormalised and scaled as asked. */
function gatherScores(scores: Float64Array, indices: Int32Array, nToken: number, nExpert: number, k: number, scoring: ResolvedScoring): Float32Array {
  const w = new Float32Array(nToken * k);
  for (let t = 0; t < nToken; t++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += scores[t * nExpert + indices[t * k + j]];
    const divisor = scoring.normalize ? sum + RENORM_EPSILON : 1;
    for (let j = 0; j < k; j++) w[t * k + j] = (scores[t * nExpert + indices[t * k + j]] / divisor) * scoring.scale;
  }
  return w;
}

function select(spec: ResolvedRouterSpec, data: RouterData, logits: Float32Array | undefined): Selected {
  const T = data.nToken;
  const E = spec.numExperts;
  const k = spec.topK;
  switch (spec.kind) {
    case 'topk':
    case 'self': {
      const probs = scoreLogits(logits!, T, E, spec.score);
      const bias = spec.kind === 'topk' ? spec.selectionBias : undefined;
      const groups = spec.kind === 'topk' ? spec.groups : undefined;
      const { indices, weights } = selectTopK(probs, logits!, T, E, k, spec, bias, groups);
      const capacity = spec.kind === 'topk' ? spec.capacity : undefined;
      const padding = capacity ? applyCapacity(capacity, indices, weights, T, E, k, data.sequenceLength) : undefined;
      return { indices, weights, probs, lossProbs: lossDistribution(probs, T, E, spec.score), padding, routed: T * k };
    }
    case 'hash':
    case 'random': {
      const indices = new Int32Array(T * k);
      for (let t = 0; t < T; t++) {
        if (spec.kind === 'hash' && spec.table) indices.set(spec.table.subarray(data.tokenIds![t] * k, (data.tokenIds![t] + 1) * k), t * k);
        else hashExperts(spec.kind === 'hash' ? data.tokenIds![t] : t, spec.seed, E, k, indices, t * k);
      }
      const score = spec.kind === 'hash' ? spec.score : 'softmax';
      const scores = logits ? scoreLogits(logits, T, E, score) : undefined;
      const weights = spec.kind === 'hash' && spec.weights === 'scores'
        ? gatherScores(scores!, indices, T, E, k, spec)
        : new Float32Array(T * k).fill(1 / k);
      const probs = scores ?? denseWeights(indices, weights, T, E, k);
      return { indices, weights, probs, lossProbs: scores ? lossDistribution(scores, T, E, score) : probs, routed: T * k };
    }
    case 'sinkhorn': {
      const { plan } = sinkhorn(logits!, T, E, spec.tolerance, spec.maxIterations);
      const indices = new Int32Array(T * k);
      for (let t = 0; t < T; t++) topKIndices(plan.subarray(t * E, (t + 1) * E), E, k, indices, t * k);
      // Megatron-Core mixes with the original logits: σ(z) for top-1, softmax over E otherwise, no renorm.
      const probs = scoreLogits(logits!, T, E, k === 1 ? 'sigmoid' : 'softmax');
      const weights = gatherScores(probs, indices, T, E, k, { score: 'softmax', normalize: false, scale: 1 });
      // The aux loss reads these scores as it reads any router's (sum-normalised when sigmoid), so aux,
      // tokenEntropy and RouterMonitor see one distribution, the one routing.probs reports.
      return { indices, weights, probs, lossProbs: lossDistribution(probs, T, E, k === 1 ? 'sigmoid' : 'softmax'), routed: T * k };
    }
    case 'expert-choice': {
      const probs = scoreLogits(logits!, T, E, 'softmax');
      const capacity = expertChoiceCapacity(spec.capacityFactor, spec.minCapacity, T, E);
      const { indices, weights } = expertChoice(probs, T, E, capacity);
      return { indices, weights, probs, lossProbs: probs, routed: capacity * E };
    }
  }
}

export function referenceRoute(spec: ResolvedRouterSpec, data: RouterData): RoutingCore {
  const T = data.nToken;
  const E = spec.numExperts;
  const k = slotsPerToken(spec);
  const logits = logitsOf(spec, data);
  const s = select(spec, data, logits);
  const plan = buildPlan(s.indices, s.weights, T, k, E, s.padding);
  const probs = Float32Array.from(s.probs);
  // tokenEntropy reads the f64 distribution (the aux loss's): σ scores below f32's range are 0 in probs.
  const stats = routingStats(plan, s.lossProbs, T, E, k, s.routed);
  const losses = { ...auxLosses(s.lossProbs, T, E, k, data.sequenceLength), z: logits ? zLoss(logits, T, E) : 0 };
  return { indices: s.indices, weights: s.weights, probs, logits: logits ?? new Float32Array(0), plan, stats, losses };
}
