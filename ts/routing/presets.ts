// Router presets named after the model families that use them, so a user writes routers.deepseekV3({...})
// instead of re-deriving each family's score function, renormalisation and grouping.
import { SwitchyardError, describe } from '../errors.js';
import { refuseMisspeltFields } from '../spec/misspelt-fields.js';
import type {
  ExpertChoiceRouterSpec, HashRouterSpec, ScoreFunction, SelfRouterSpec, SinkhornRouterSpec, TopKRouterSpec,
} from '../spec/types.js';

interface Counts {
  /** E, routed experts */
  E: number;
  /** k, experts per token */
  k: number;
}

/** Mixtral: softmax over all experts, top-k, renormalised over the k. */
function mixtral({ E, k }: Counts): TopKRouterSpec {
  return { kind: 'topk', numExperts: E, topK: k, score: 'softmax', normalize: true };
}

/** Qwen2-MoE / Qwen3-MoE / OLMoE: softmax, top-k, renormalised only with norm_topk_prob. */
function qwen({ E, k, normTopkProb = false }: Counts & { normTopkProb?: boolean }): TopKRouterSpec {
  return { kind: 'topk', numExperts: E, topK: k, score: 'softmax', normalize: normTopkProb };
}

/**
 * DeepSeek-V3: sigmoid scores; selection on scores + e_score_correction_bias within the best topkGroup of
 * nGroup groups (group score = sum of its top-2 biased scores, as Hugging Face hard-codes); weights
 * renormalised (norm_topk_prob) and scaled by routed_scaling_factor.
 */
function deepseekV3({ E, k, nGroup = 1, topkGroup = 1, scale = 2.5, bias, normTopkProb = true }: Counts & {
  nGroup?: number; topkGroup?: number; scale?: number; bias?: Float32Array; normTopkProb?: boolean;
}): TopKRouterSpec {
  return {
    kind: 'topk', numExperts: E, topK: k, score: 'sigmoid', normalize: normTopkProb, scale, selectionBias: bias,
    groups: nGroup > 1 ? { count: nGroup, topk: topkGroup, scoreTopN: Math.min(2, E / nGroup) } : undefined,
  };
}

/** Switch Transformers: top-1 of the softmax, weight = that probability, capacity per sequence by position. */
function switchTransformer({ E, capacityFactor, expertCapacity }: { E: number; capacityFactor?: number; expertCapacity?: number }): TopKRouterSpec {
  return {
    kind: 'topk', numExperts: E, topK: 1, score: 'softmax', normalize: false,
    capacity: expertCapacity !== undefined
      ? { perExpert: expertCapacity, dropPolicy: 'position', per: 'sequence' }
      : { factor: capacityFactor ?? 1, dropPolicy: 'position', per: 'sequence' },
  };
}

/** GPT-OSS and Granite: top-k on the logits, softmax over the k (= softmax, top-k, renormalise). */
function gptOss({ E, k }: Counts): TopKRouterSpec {
  return { kind: 'topk', numExperts: E, topK: k, score: 'softmax', normalize: true };
}

/**
 * Hash layers (Roller et al. 2021): fixed experts per token id from a table (balancedHashTable, or a
 * checkpoint's tid2eid) or the built-in hash. With `score`, weights are the gate scores at those experts
 * (DeepSeek-V4's hash layers: sqrt-softplus, renormalised, scaled).
 */
function hashLayer({ E, k, table, seed, score, scale }: Counts & { table?: Int32Array; seed?: number; score?: ScoreFunction; scale?: number }): HashRouterSpec {
  return score === undefined
    ? { kind: 'hash', numExperts: E, topK: k, table, seed, weights: 'uniform' }
    : { kind: 'hash', numExperts: E, topK: k, table, seed, weights: 'scores', score, normalize: true, scale };
}

/** Sinkhorn routing as in Megatron-Core (S-BASE). */
function sinkhornRouter({ E, k, tolerance, maxIterations }: Counts & { tolerance?: number; maxIterations?: number }): SinkhornRouterSpec {
  return { kind: 'sinkhorn', numExperts: E, topK: k, tolerance, maxIterations };
}

/** Expert choice (Zhou et al. 2022): each expert takes its top C = round(c·T/E) tokens. */
function expertChoice({ E, capacityFactor = 2, minCapacity }: { E: number; capacityFactor?: number; minCapacity?: number }): ExpertChoiceRouterSpec {
  return { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor, minCapacity };
}

/** Self-Routing (arXiv 2604.00421): the last E coordinates of the hidden state are the logits. */
function selfRouting({ E, k, offset, temperature }: Counts & { offset?: number; temperature?: number }): SelfRouterSpec {
  return { kind: 'self', numExperts: E, topK: k, offset, temperature, score: 'softmax', normalize: true };
}

/**
 * Named router specs of the model families.
 *
 * @example
 * await route(routers.deepseekV3({ E: 256, k: 8, nGroup: 8, topkGroup: 4, bias }), { tokens: T, logits });
 */
export const routers = {
  mixtral: preset('mixtral', mixtral, ['E', 'k']),
  qwen: preset('qwen', qwen, ['E', 'k', 'normTopkProb']),
  olmoe: preset('olmoe', qwen, ['E', 'k', 'normTopkProb']),
  deepseekV3: preset('deepseekV3', deepseekV3, ['E', 'k', 'nGroup', 'topkGroup', 'scale', 'bias', 'normTopkProb']),
  switch: preset('switch', switchTransformer, ['E', 'capacityFactor', 'expertCapacity']),
  gptOss: preset('gptOss', gptOss, ['E', 'k']),
  granite: preset('granite', gptOss, ['E', 'k']),
  hashLayer: preset('hashLayer', hashLayer, ['E', 'k', 'table', 'seed', 'score', 'scale']),
  sinkhorn: preset('sinkhorn', sinkhornRouter, ['E', 'k', 'tolerance', 'maxIterations']),
  expertChoice: preset('expertChoice', expertChoice, ['E', 'capacityFactor', 'minCapacity']),
  selfRouting: preset('selfRouting', selfRouting, ['E', 'k', 'offset', 'temperature']),
};

/**
 * A preset that refuses a missing or non-object argument by name, and a misspelt field of it (`fields`: the
 * ones it reads); the values are checked where the spec is used, by route() and createMoE, like any
 * hand-written spec's.
 */
function preset<A extends object, R>(name: string, build: (args: A) => R, fields: readonly string[]): (args: A) => R {
  return (args) => {
    if (args === null || typeof args !== 'object') {
      throw new SwitchyardError('config', `routers.${name}`, `expected an object of counts and options ({ E, k, … }), received ${describe(args)}`);
    }
    refuseMisspeltFields(args, fields, `routers.${name}`, `routers.${name}'s argument`);
    return build(args);
  };
}
