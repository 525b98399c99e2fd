// Host side of gpu/expert_ffn_up.wgsl: grouped GEMM h = activate(x·gateᵀ + gate_bias, x·upᵀ + up_bias)
// over the plan rows, for f32, f16 or int8 weights, with vec4 or scalar quad loads by dModel.
import source from '../../gpu/expert_ffn_up.wgsl';
import { activationSource, enableF16, type WeightDtype } from './activation.js';
import { elementType, groupedTileSource, quadLoad, type Layout } from './grouped-gemm.js';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

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

function build(dtype: WeightDtype, layout: Layout, rows: number): ExpertFfnUpKernel {
  return {
    name: 'expert_ffn_up',
    code: substitute('expert_ffn_up', source, {
      PARAMS: expertFfnUpParams.wgsl, ENABLE_F16: enableF16(dtype), ACTIVATION: activationSource,
      GROUPED_TILE: groupedTileSource, ROWS: String(rows), X_T: elementType('f32', layout), W_T: elementType(dtype, layout),
      LOADS: [quadLoad('x', layout), quadLoad('gate', layout, dtype), quadLoad('up', layout, dtype)].join('\n\n'),
    }),
    params: expertFfnUpParams,
    bindings: ['params', 'x', 'rows', 'offsets', 'gate', 'up', 'gateBias', 'upBias', 'h'],
  };
}

const kernels = new Map<string, ExpertFfnUpKernel>();

/**
 * The kernel reading weights of `dtype` in `layout` (layoutFor(dModel)) with `rows` output rows
 * per thread (GemmTiles.ROWS); one object per variant, so
 * pipelines cache by identity.
 */
export function expertFfnUp(dtype: WeightDtype, layout: Layout, rows: number): ExpertFfnUpKernel {
  const key = `${dtype}/${layout}/${rows}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = build(dtype, layout, rows)));
  return k;
}
