// Host side of gpu/activation.wgsl, the fragment expert_ffn_up and expert_matvec share: its source and
// the ACTIVATION override code of each expert function.
import source from '../../gpu/activation.wgsl';
import { SwitchyardError } from '../errors.js';
import type { Activation } from '../spec/types.js';

export const activationSource: string = source;

/** The ACTIVATION override values, as listed at the top of gpu/activation.wgsl. */
const CODES: Readonly<Record<Activation | 'identity', number>> = {
  swiglu: 0, geglu: 1, 'swiglu-oai': 2, gelu: 3, relu: 4, silu: 5, identity: 6,
};

/** The ACTIVATION code of an activation (absent = swiglu); unknown names throw. */
export function activationCode(activation: Activation | 'identity' | undefined, argument: string): number {
  const name = activation ?? 'swiglu';
  const code = (CODES as Record<string, number>)[name];
  if (code === undefined) {
    throw new SwitchyardError('config', argument, `expected one of ${Object.keys(CODES).filter((k) => k !== 'identity').join(', ')}, got '${String(name)}'`);
  }
  return code;
}

/** Whether the kernels compiled for `code` read the gate projection (the WGSL derives GATED the same way). */
export function codeIsGated(code: number): boolean {
  return code <= 2;
}

/** `enable f16;` where f16 weights are read, nothing otherwise. */
export function enableF16(dtype: WeightDtype): string {
  return dtype === 'f16' ? 'enable f16;' : '';
}

/** How expert weights are stored on the device; accumulation is f32 either way. */
export type WeightDtype = 'f32' | 'f16';
