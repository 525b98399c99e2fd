// Host side of gpu/expert_matvec.wgsl: per-assignment expert mat-vecs for decode (few tokens), used in
// place of the grouped GEMMs; gated = 1 is the fused gate/up + silu step, gated = 0 the down step.
import source from '../../gpu/expert_matvec.wgsl';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertMatvecParams = defineParams('ExpertMatvecParams', [
  ['n_slot', 'u32'],
  ['n_expert_used', 'u32'],
  ['k_dim', 'u32'],
  ['n_dim', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['gated', 'u32'],
  ['tiles_n', 'u32'],
] as const);

export type ExpertMatvecBinding = 'x' | 'indices' | 'slotRow' | 'wA' | 'wB' | 'out';

export const expertMatvec: KernelSpec<(typeof expertMatvecParams.fields)[number][0], ExpertMatvecBinding> = {
  name: 'expert_matvec',
  code: substitute('expert_matvec', source, { PARAMS: expertMatvecParams.wgsl, WEIGHT_T: 'f32' }),
  params: expertMatvecParams,
  bindings: ['params', 'x', 'indices', 'slotRow', 'wA', 'wB', 'out'],
};

/** 64 threads split the dot product; 4 output columns per workgroup reuse each x element read. */
export const EXPERT_MATVEC_CONSTANTS = { WG_SIZE: 64, COLS: 4 } as const;

/** Column tiles of one output row. */
export function expertMatvecTiles(nDim: number): number {
  return ceilDiv(nDim, EXPERT_MATVEC_CONSTANTS.COLS);
}

/** One workgroup per (assignment, column tile). */
export function expertMatvecWorkgroups(nSlot: number, nDim: number): number {
  return nSlot * expertMatvecTiles(nDim);
}
