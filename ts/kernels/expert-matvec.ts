// Host side of gpu/expert_matvec.wgsl: per-assignment expert mat-vecs for decode (few tokens), used in
// place of the grouped GEMMs. The up step (x by token, gate/up + activation + biases) and the down step
// (x by plan row, ACTIVATION = identity, down bias) are two pipelines of the one kernel.
import source from '../../gpu/expert_matvec.wgsl';
import { activationSource, enableF16, type WeightDtype } from './activation.js';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertMatvecParams = defineParams('ExpertMatvecParams', [
  ['n_slot', 'u32'],
  ['n_expert_used', 'u32'],
  ['k_dim', 'u32'],
  ['n_dim', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['x_by_token', 'u32'],
  ['tiles_n', 'u32'],
  ['alpha', 'f32'],
  ['limit', 'f32'],
] as const);

export type ExpertMatvecBinding = 'x' | 'indices' | 'slotRow' | 'wA' | 'wB' | 'biasA' | 'biasB' | 'out';

type ExpertMatvecKernel = KernelSpec<(typeof expertMatvecParams.fields)[number][0], ExpertMatvecBinding>;

function build(dtype: WeightDtype): ExpertMatvecKernel {
  return {
    name: 'expert_matvec',
    code: substitute('expert_matvec', source, {
      PARAMS: expertMatvecParams.wgsl, WEIGHT_T: dtype, ENABLE_F16: enableF16(dtype), ACTIVATION: activationSource,
    }),
    params: expertMatvecParams,
    bindings: ['params', 'x', 'indices', 'slotRow', 'wA', 'wB', 'biasA', 'biasB', 'out'],
  };
}

const kernels = { f32: build('f32'), f16: build('f16') };

/** The kernel reading weights of `dtype` (one object per dtype, so pipelines cache by identity). */
export function expertMatvec(dtype: WeightDtype): ExpertMatvecKernel {
  return kernels[dtype];
}

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
