// Host side of gpu/router_topk.wgsl: router logits (or given logits) → softmax → top-k → weights.
import source from '../../gpu/router_topk.wgsl';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

export const routerTopkParams = defineParams('RouterTopkParams', [
  ['n_token', 'u32'],
  ['n_expert', 'u32'],
  ['d_model', 'u32'],
  ['n_expert_used', 'u32'],
  ['compute_logits', 'u32'],
  ['has_bias', 'u32'],
  ['normalize', 'u32'],
  ['scale', 'f32'],
] as const);

export type RouterTopkBinding = 'hidden' | 'weight' | 'bias' | 'logits' | 'probs' | 'indices' | 'weights';

export const routerTopk: KernelSpec<(typeof routerTopkParams.fields)[number][0], RouterTopkBinding> = {
  name: 'router_topk',
  code: substitute('router_topk', source, { PARAMS: routerTopkParams.wgsl }),
  params: routerTopkParams,
  bindings: ['params', 'hidden', 'weight', 'bias', 'logits', 'probs', 'indices', 'weights'],
};

/** 64 threads share the experts of one token; MAX_EXPERT sizes the per-token score tile exactly. */
export function routerTopkConstants(nExpert: number): Record<string, number> {
  return { WG_SIZE: 64, MAX_EXPERT: nExpert };
}

/** One workgroup per token. */
export function routerTopkWorkgroups(nToken: number): number {
  return nToken;
}
