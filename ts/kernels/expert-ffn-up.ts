// Host side of gpu/expert_ffn_up.wgsl: grouped GEMM h = activate(x·gateᵀ + gate_bias, x·upᵀ + up_bias)
// over the plan rows, for f32 or f16 weights.
import source from '../../gpu/expert_ffn_up.wgsl';
import { activationSource, enableF16, type WeightDtype } from './activation.js';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertFfnUpParams = defineParams('ExpertFfnUpParams', [
  ['d_model', 'u32'],
  ['d_ff', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['tiles_n', 'u32'],
  ['alpha', 'f32'],
  ['limit', 'f32'],
] as const);

export type ExpertFfnUpBinding = 'x' | 'rows' | 'offsets' | 'gate' | 'up' | 'gateBias' | 'upBias' | 'h';

type ExpertFfnUpKernel = KernelSpec<(typeof expertFfnUpParams.fields)[number][0], ExpertFfnUpBinding>;

function build(dtype: WeightDtype): ExpertFfnUpKernel {
  return {
    name: 'expert_ffn_up',
    code: substitute('expert_ffn_up', source, {
      PARAMS: expertFfnUpParams.wgsl, WEIGHT_T: dtype, ENABLE_F16: enableF16(dtype), ACTIVATION: activationSource,
    }),
    params: expertFfnUpParams,
    bindings: ['params', 'x', 'rows', 'offsets', 'gate', 'up', 'gateBias', 'upBias', 'h'],
  };
}

const kernels = { f32: build('f32'), f16: build('f16') };

/** The kernel reading weights of `dtype` (one object per dtype, so pipelines cache by identity). */
export function expertFfnUp(dtype: WeightDtype): ExpertFfnUpKernel {
  return kernels[dtype];
}

/** Tile sizes shared by both FFN GEMMs; 16 × 16 threads fits the default 256-invocation limit. */
export interface GemmTiles {
  TILE_M: number;
  TILE_N: number;
  TILE_K: number;
}

export const FFN_TILES: GemmTiles = { TILE_M: 16, TILE_N: 16, TILE_K: 16 };

/**
 * Worst-case workgroup count of one grouped-GEMM dispatch over `nRow` plan rows and `nExpertGroup`
 * experts: Σₑ ceil(countₑ / TILE_M) ≤ ceil(nRow / TILE_M) + (experts with rows), times the column tiles.
 */
export function groupedGemmWorkgroups(nRow: number, nExpertGroup: number, nCol: number, tiles: GemmTiles): number {
  return ceilDiv(nCol, tiles.TILE_N) * (ceilDiv(nRow, tiles.TILE_M) + Math.min(nExpertGroup, nRow));
}
