// Host side of gpu/activation.wgsl, the fragment expert_ffn_up and expert_matvec share: its source and
// the ACTIVATION override code of each expert function.
import source from '../../gpu/activation.wgsl';
import { SwitchyardError } from '../errors.js';
import type { Activation } from '../spec/types.js';

export const activationSource: string = source;

/** The ACTIVATION override values, as listed at the top of gpu/activation.wgsl. */
const CODES: Readonly<Record<Activation, number>> = {
  swiglu: 0, geglu: 1, 'swiglu-oai': 2, gelu: 3, relu: 4, silu: 5,
};

/** ACTIVATION = identity: expert_matvec's down step, never an expert's own activation. */
export const IDENTITY_ACTIVATION = 6;

/** The ACTIVATION code of an expert's activation (absent = swiglu); unknown names throw. */
export function activationCode(activation: Activation | undefined, argument: string): number {
  const name = activation ?? 'swiglu';
  const code = Object.hasOwn(CODES, name) ? CODES[name] : undefined;
  if (code === undefined) {
    throw new SwitchyardError('config', argument, `expected one of ${Object.keys(CODES).join(', ')}, got '${String(name)}'`);
  }
  return code;
}

/** `enable f16;` where f16 weights are read, nothing otherwise. */
export function enableF16(dtype: WeightDtype): string {
  return dtype === 'f16' ? 'enable f16;' : '';
}

/**
 * How expert weights are stored on the device; accumulation is f32 either way. int8: block-wise with f16
 * scales, in the word layout of ts/backends/webgpu-q8.ts.
 */
export type WeightDtype = 'f32' | 'f16' | 'int8';
