// Host side of gpu/expert_ffn_down.wgsl: grouped GEMM y = h·downᵀ over the plan rows.
import source from '../../gpu/expert_ffn_down.wgsl';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

export const expertFfnDownParams = defineParams('ExpertFfnDownParams', [
  ['d_model', 'u32'],
  ['d_ff', 'u32'],
  ['expert_base', 'u32'],
  ['n_expert_group', 'u32'],
  ['tiles_n', 'u32'],
] as const);

export type ExpertFfnDownBinding = 'h' | 'offsets' | 'down' | 'y';

export const expertFfnDown: KernelSpec<(typeof expertFfnDownParams.fields)[number][0], ExpertFfnDownBinding> = {
  name: 'expert_ffn_down',
  code: substitute('expert_ffn_down', source, { PARAMS: expertFfnDownParams.wgsl, WEIGHT_T: 'f32' }),
  params: expertFfnDownParams,
  bindings: ['params', 'h', 'offsets', 'down', 'y'],
};
