// Host side of gpu/shared_gate.wgsl: a shared expert's per-token σ gate, σ(hidden[t] · gate).
import source from '../../gpu/shared_gate.wgsl';
import { defineParams, substitute, type KernelSpec } from './wgsl.js';

export const sharedGateParams = defineParams('SharedGateParams', [
  ['n_token', 'u32'],
  ['d_model', 'u32'],
] as const);

export type SharedGateBinding = 'hidden' | 'gate' | 'weight';

export const sharedGate: KernelSpec<(typeof sharedGateParams.fields)[number][0], SharedGateBinding> = {
  name: 'shared_gate',
  code: substitute('shared_gate', source, { PARAMS: sharedGateParams.wgsl }),
  params: sharedGateParams,
  bindings: ['params', 'hidden', 'gate', 'weight'],
};

/** 64 threads split each token's dot product of length dModel. */
export const SHARED_GATE_CONSTANTS: Record<string, number> = { WG_SIZE: 64 };

/** One workgroup per token. */
export function sharedGateWorkgroups(nToken: number): number {
  return nToken;
}
