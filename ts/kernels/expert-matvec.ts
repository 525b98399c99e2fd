// Host side of gpu/expert_matvec.wgsl: per-assignment expert mat-vecs for decode (few tokens), used in
// place of the grouped GEMMs. The up step (x by token, gate/up + activation + biases) and the down step
// (x by plan row, ACTIVATION = identity, down bias) are two pipelines of the one kernel.
import source from '../../gpu/expert_matvec.wgsl';
import { activationSource, enableF16, type WeightDtype } from './activation.js';
import { elementType, quadLoad, type Layout } from './grouped-gemm.js';
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

function build(dtype: WeightDtype, layout: Layout): ExpertMatvecKernel {
  return {
    name: 'expert_matvec',
    code: substitute('expert_matvec', source, {
      PARAMS: expertMatvecParams.wgsl, ENABLE_F16: enableF16(dtype), ACTIVATION: activationSource,
      X_T: elementType('f32', layout), W_T: elementType(dtype, layout),
      LOADS: [quadLoad('x', layout), quadLoad('w_a', layout, dtype), quadLoad('w_b', layout, dtype)].join('\n\n'),
    }),
    params: expertMatvecParams,
    bindings: ['params', 'x', 'indices', 'slotRow', 'wA', 'wB', 'biasA', 'biasB', 'out'],
  };
}

const kernels = new Map<string, ExpertMatvecKernel>();

/**
 * The kernel reading weights of `dtype` in `layout` (layoutFor(kDim): dModel for the up step, dFF for
 * the down step); one object per variant, so pipelines cache by identity.
 */
export function expertMatvec(dtype: WeightDtype, layout: Layout): ExpertMatvecKernel {
  const key = `${dtype}/${layout}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = build(dtype, layout)));
  return k;
}

/**
 * 8 threads per column quad split k (8 quads = 128 contiguous bytes of an f32 weight row per step), 8
 * column quads per workgroup: 32 columns, 64 threads, 3 barrier steps to add the partial sums. It was 64
 * threads per 4 columns with a 6-step tree; on lavapipe the barriers were the decode's cost.
 */
export const EXPERT_MATVEC_CONSTANTS = { K_SPLIT: 8, COL_QUADS: 8 } as const;

/** Output columns per workgroup. */
const EXPERT_MATVEC_COLS = 4 * EXPERT_MATVEC_CONSTANTS.COL_QUADS;

/** Column tiles of one output row. */
export function expertMatvecTiles(nDim: number): number {
  return ceilDiv(nDim, EXPERT_MATVEC_COLS);
}

/** One workgroup per (assignment, column tile). */
export function expertMatvecWorkgroups(nSlot: number, nDim: number): number {
  return nSlot * expertMatvecTiles(nDim);
}
