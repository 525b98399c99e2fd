// Host side of gpu/expert_ffn_down.wgsl: grouped GEMM y = h·downᵀ + down_bias over the plan rows, for f32
// or f16 weights.
import source from '../../gpu/expert_ffn_down.wgsl';
import { enableF16, type WeightDtype } from './activation.js';
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

function build(dtype: WeightDtype): ExpertFfnDownKernel {
  return {
    name: 'expert_ffn_down',
    code: substitute('expert_ffn_down', source, { PARAMS: expertFfnDownParams.wgsl, WEIGHT_T: dtype, ENABLE_F16: enableF16(dtype) }),
    params: expertFfnDownParams,
    bindings: ['params', 'h', 'offsets', 'down', 'downBias', 'y'],
  };
}

const kernels = { f32: build('f32'), f16: build('f16') };

/** The kernel reading weights of `dtype` (one object per dtype, so pipelines cache by identity). */
export function expertFfnDown(dtype: WeightDtype): ExpertFfnDownKernel {
  return kernels[dtype];
}
