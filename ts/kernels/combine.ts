// Host side of gpu/combine.wgsl: out[t] = Σ_j weights[t, j] · y[row of slot (t, j)], in slot order.
import source from '../../gpu/combine.wgsl';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const combineParams = defineParams('CombineParams', [
  ['n_token', 'u32'],
  ['d_model', 'u32'],
  ['n_expert_used', 'u32'],
] as const);

export type CombineBinding = 'indices' | 'weights' | 'slotRow' | 'y' | 'out';

export const combine: KernelSpec<(typeof combineParams.fields)[number][0], CombineBinding> = {
  name: 'combine',
  code: substitute('combine', source, { PARAMS: combineParams.wgsl }),
  params: combineParams,
  bindings: ['params', 'indices', 'weights', 'slotRow', 'y', 'out'],
};

const COMBINE_WG_SIZE = 256;
export const COMBINE_CONSTANTS: Record<string, number> = { WG_SIZE: COMBINE_WG_SIZE };

/** One thread per output element. */
export function combineWorkgroups(nToken: number, dModel: number): number {
  return ceilDiv(nToken * dModel, COMBINE_WG_SIZE);
}
