// Host side of gpu/combine.wgsl: out[t] = Σ_j weights[t, j] · y[row of slot (t, j)], in slot order, then
// the shared expert's row t (weight 1 or its σ gate).
import source from '../../gpu/combine.wgsl';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const combineParams = defineParams('CombineParams', [
  ['n_token', 'u32'],
  ['d_model', 'u32'],
  ['n_expert_used', 'u32'],
] as const);

export type CombineBinding = 'indices' | 'weights' | 'slotRow' | 'y' | 'yShared' | 'sharedWeight' | 'out';

export const combine: KernelSpec<(typeof combineParams.fields)[number][0], CombineBinding> = {
  name: 'combine',
  code: substitute('combine', source, { PARAMS: combineParams.wgsl }),
  params: combineParams,
  bindings: ['params', 'indices', 'weights', 'slotRow', 'y', 'yShared', 'sharedWeight', 'out'],
};

const COMBINE_WG_SIZE = 256;
/** The SHARED override: how combine adds a shared expert. */
export const COMBINE_SHARED = { none: 0, ungated: 1, gated: 2 } as const;

export function combineConstants(shared: keyof typeof COMBINE_SHARED): Record<string, number> {
  return { WG_SIZE: COMBINE_WG_SIZE, SHARED: COMBINE_SHARED[shared] };
}

/** One thread per output element. */
export function combineWorkgroups(nToken: number, dModel: number): number {
  return ceilDiv(nToken * dModel, COMBINE_WG_SIZE);
}
