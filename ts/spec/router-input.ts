// Validation of RouterInput: lengths against T and E, finiteness, and where the logits come from.
import { SwitchyardError, describe } from '../errors.js';
import type { RouterInput } from './types.js';
import { allFinite, float32Array, positiveInteger } from './check.js';

export type ResolvedRouterInput =
  | { nToken: number; source: 'logits'; logits: Float32Array; sequenceLength?: number }
  | {
      nToken: number;
      source: 'hidden';
      hidden: Float32Array; // [nToken, dModel]
      weight: Float32Array; // [nExpert, dModel]
      bias: Float32Array | undefined; // [nExpert]
      dModel: number;
      sequenceLength?: number;
    };

export function sequenceLengthOf(value: unknown, nToken: number, argument: string): number | undefined {
  if (value === undefined) return undefined;
  const s = positiveInteger(value, argument);
  if (nToken % s !== 0) {
    throw new SwitchyardError('shape', argument, `expected a divisor of tokens = ${nToken} (rows are batch-major b·S + s), received ${s}`);
  }
  return s;
}

export function resolveRouterInput(input: RouterInput, nExpert: number, argument = 'input'): ResolvedRouterInput {
  if (input === null || typeof input !== 'object') {
    throw new SwitchyardError('shape', argument, `expected a RouterInput object, received ${describe(input)}`);
  }
  const nToken = positiveInteger(input.tokens, `${argument}.tokens`);
  const sequenceLength = sequenceLengthOf(input.sequenceLength, nToken, `${argument}.sequenceLength`);
  if (input.logits !== undefined) {
    const logits = float32Array(input.logits, nToken * nExpert, `[tokens=${nToken}, numExperts=${nExpert}]`, `${argument}.logits`);
    allFinite(logits, `${argument}.logits`, `[${nToken}, ${nExpert}]`);
    return { nToken, source: 'logits', logits, sequenceLength };
  }
  if (input.hidden === undefined || input.weight === undefined) {
    throw new SwitchyardError('shape', `${argument}.logits`, 'expected logits [tokens, numExperts], or hidden [tokens, dModel] with weight [numExperts, dModel]; received neither');
  }
  if (!(input.hidden instanceof Float32Array) || input.hidden.length % nToken !== 0 || input.hidden.length === 0) {
    throw new SwitchyardError('shape', `${argument}.hidden`, `expected a Float32Array [tokens=${nToken}, dModel], received ${describe(input.hidden)}`);
  }
  const dModel = input.hidden.length / nToken;
  const hidden = input.hidden;
  const weight = float32Array(input.weight, nExpert * dModel, `[numExperts=${nExpert}, dModel=${dModel}]`, `${argument}.weight`);
  const bias = input.bias === undefined ? undefined : float32Array(input.bias, nExpert, `[numExperts=${nExpert}]`, `${argument}.bias`);
  allFinite(hidden, `${argument}.hidden`, `[${nToken}, ${dModel}]`);
  allFinite(weight, `${argument}.weight`, `[${nExpert}, ${dModel}]`);
  if (bias) allFinite(bias, `${argument}.bias`, `[${nExpert}]`);
  return { nToken, source: 'hidden', hidden, weight, bias, dModel, sequenceLength };
}
