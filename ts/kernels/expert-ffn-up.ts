// Host side of gpu/expert_ffn_up.wgsl: grouped GEMM h = silu(x·gateᵀ) ⊙ (x·upᵀ) over the plan rows.
import source from '../../gpu/expert_ffn_up.wgsl';
import { ceilDiv, defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertFfnUpParams = defineParams('ExpertFfnUpParams', [
  ['d_model', 'u32'],
  ['d_ff', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['tiles_n', 'u32'],
] as const);

export type ExpertFfnUpBinding = 'x' | 'rows' | 'offsets' | 'gate' | 'up' | 'h';

export const expertFfnUp: KernelSpec<(typeof expertFfnUpParams.fields)[number][0], ExpertFfnUpBinding> = {
  name: 'expert_ffn_up',
  code: substitute('expert_ffn_up', source, { PARAMS: expertFfnUpParams.wgsl, WEIGHT_T: 'f32' }),
  params: expertFfnUpParams,
  bindings: ['params', 'x', 'rows', 'offsets', 'gate', 'up', 'h'],
};

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
