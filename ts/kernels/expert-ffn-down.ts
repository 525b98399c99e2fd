// Host side of gpu/expert_ffn_down.wgsl: grouped GEMM y = h·downᵀ + down_bias over the plan rows, for f32,
// f16 or int8 weights, with vec4 or scalar quad loads by dFF.
import source from '../../gpu/expert_ffn_down.wgsl';
import { enableF16, type WeightDtype } from './activation.js';
import { elementType, groupedTileSource, quadLoad, type Layout } from './grouped-gemm.js';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertFfnDownParams = defineParams('ExpertFfnDownParams', [
  ['d_model', 'u32'],
  ['d_ff', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['tiles_n', 'u32'],
] as const);

export type ExpertFfnDownBinding = 'h' | 'offsets' | 'down' | 'downBias' | 'y';

type ExpertFfnDownKernel = KernelSpec<(typeof expertFfnDownParams.fields)[number][0], ExpertFfnDownBinding>;

function build(dtype: WeightDtype, layout: Layout, rows: number): ExpertFfnDownKernel {
  return {
    name: 'expert_ffn_down',
    code: substitute('expert_ffn_down', source, {
      PARAMS: expertFfnDownParams.wgsl, ENABLE_F16: enableF16(dtype), GROUPED_TILE: groupedTileSource, ROWS: String(rows),
      H_T: elementType('f32', layout), W_T: elementType(dtype, layout),
      LOADS: [quadLoad('h', layout), quadLoad('down', layout, dtype)].join('\n\n'),
    }),
    params: expertFfnDownParams,
    bindings: ['params', 'h', 'offsets', 'down', 'downBias', 'y'],
  };
}

const kernels = new Map<string, ExpertFfnDownKernel>();

/**
 * The kernel reading weights of `dtype` in `layout` (layoutFor(dFF)) with `rows` output rows per
 * thread (GemmTiles.ROWS); one object per variant, so
 * pipelines cache by identity.
 */
export function expertFfnDown(dtype: WeightDtype, layout: Layout, rows: number): ExpertFfnDownKernel {
  const key = `${dtype}/${layout}/${rows}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = build(dtype, layout, rows)));
  return k;
}
