// Host side of gpu/gather_by_expert.wgsl: the dispatch plan (offsets, rows, weights, slots) and the
// slot → plan row map, built on the device from the router's indices.
import source from '../../gpu/gather_by_expert.wgsl';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

export const gatherByExpertParams = defineParams('GatherByExpertParams', [
  ['n_slot', 'u32'],
  ['n_expert', 'u32'],
  ['n_expert_used', 'u32'],
] as const);

export type GatherByExpertBinding = 'indices' | 'weights' | 'offsets' | 'rows' | 'rowWeights' | 'rowSlots' | 'slotRow';

export const gatherByExpert: KernelSpec<(typeof gatherByExpertParams.fields)[number][0], GatherByExpertBinding> = {
  name: 'gather_by_expert',
  code: substitute('gather_by_expert', source, { PARAMS: gatherByExpertParams.wgsl }),
  params: gatherByExpertParams,
  bindings: ['params', 'indices', 'weights', 'offsets', 'rows', 'rowWeights', 'rowSlots', 'slotRow'],
};

/** 64 threads per expert: the scan costs log2(64) barrier pairs per chunk of 64 slots. */
export const GATHER_BY_EXPERT_CONSTANTS: Record<string, number> = { WG_SIZE: 64 };

/** One workgroup per expert. */
export function gatherByExpertWorkgroups(nExpert: number): number {
  return nExpert;
}
