// Validation of RouterInput against a resolved spec: lengths against T, E and d, finiteness, token ids
// in range, and that the router finds what it reads (logits, hidden states or token ids).
import { SwitchyardError, describe } from '../errors.js';
import type { RouterInput } from './types.js';
import { allFinite, float32Array, positiveInteger } from './check.js';
import { checkScoresSize, checkSelfSlice, needsLogits, type ResolvedRouterSpec } from './router-spec.js';
import { refuseMisspeltFields } from './misspelt-fields.js';

export interface RouterData {
  nToken: number;
  sequenceLength: number | undefined;
  /** [nToken, nExpert] given logits */
  logits: Float32Array | undefined;
  /** [nToken, dModel] */
  hidden: Float32Array | undefined;
  dModel: number | undefined;
  /** [nExpert, dModel] */
  weight: Float32Array | undefined;
  /** [nExpert] */
  bias: Float32Array | undefined;
  /** [nToken] */
  tokenIds: Int32Array | undefined;
}

export function sequenceLengthOf(value: unknown, nToken: number, argument: string): number | undefined {
  if (value === undefined) return undefined;
  const s = positiveInteger(value, argument);
  if (nToken % s !== 0) {
    throw new SwitchyardError('shape', argument, `expected a divisor of tokens = ${nToken} (rows are batch-major b·S + s), received ${s}`);
  }
  return s;
}

export function tokenIdsOf(value: unknown, nToken: number, vocab: number | undefined, argument: string): Int32Array {
  if (!(value instanceof Int32Array)) {
    throw new SwitchyardError('dtype', argument, `expected an Int32Array [tokens=${nToken}], received ${describe(value)}`);
  }
  if (value.length !== nToken) {
    throw new SwitchyardError('shape', argument, `expected an Int32Array [tokens=${nToken}], received ${describe(value)}`);
  }
  for (let t = 0; t < nToken; t++) {
    const id = value[t];
    if (id < 0 || (vocab !== undefined && id >= vocab)) {
      throw new SwitchyardError('range', argument, `expected token ids in [0, ${vocab ?? '2^31'}), received ${id} at token ${t}`);
    }
  }
  return value;
}

export function resolveRouterInput(input: RouterInput, spec: ResolvedRouterSpec, argument = 'input'): RouterData {
  if (input === null || typeof input !== 'object') {
    throw new SwitchyardError('shape', argument, `expected a RouterInput object, received ${describe(input)}`);
  }
  refuseMisspeltFields(input, ['tokens', 'logits', 'hidden', 'weight', 'bias', 'tokenIds', 'sequenceLength'], argument, 'a RouterInput');
  const E = spec.numExperts;
  const nToken = positiveInteger(input.tokens, `${argument}.tokens`);
  checkScoresSize(nToken, E, `${argument}.tokens`);
  const data: RouterData = {
    nToken,
    sequenceLength: sequenceLengthOf(input.sequenceLength, nToken, `${argument}.sequenceLength`),
    logits: undefined, hidden: undefined, dModel: undefined, weight: undefined, bias: undefined, tokenIds: undefined,
  };
  if (input.logits !== undefined) {
    data.logits = float32Array(input.logits, nToken * E, `[tokens=${nToken}, numExperts=${E}]`, `${argument}.logits`);
    allFinite(data.logits, `${argument}.logits`, `[${nToken}, ${E}]`);
  }
  if (input.hidden !== undefined) {
    if (!(input.hidden instanceof Float32Array)) {
      throw new SwitchyardError('dtype', `${argument}.hidden`, `expected a Float32Array [tokens=${nToken}, dModel], received ${describe(input.hidden)}`);
    }
    if (input.hidden.length % nToken !== 0 || input.hidden.length === 0) {
      throw new SwitchyardError('shape', `${argument}.hidden`, `expected a Float32Array [tokens=${nToken}, dModel], received ${describe(input.hidden)}`);
    }
    data.hidden = input.hidden;
    data.dModel = input.hidden.length / nToken;
    allFinite(data.hidden, `${argument}.hidden`, `[${nToken}, ${data.dModel}]`);
  }
  if (input.weight !== undefined && data.logits === undefined) {
    if (data.dModel === undefined) {
      throw new SwitchyardError('shape', `${argument}.hidden`, `expected hidden [tokens=${nToken}, dModel] beside weight, received undefined`);
    }
    data.weight = float32Array(input.weight, E * data.dModel, `[numExperts=${E}, dModel=${data.dModel}]`, `${argument}.weight`);
    allFinite(data.weight, `${argument}.weight`, `[${E}, ${data.dModel}]`);
    if (input.bias !== undefined) {
      data.bias = float32Array(input.bias, E, `[numExperts=${E}]`, `${argument}.bias`);
      allFinite(data.bias, `${argument}.bias`, `[${E}]`);
    }
  }
  if (needsLogits(spec) && data.logits === undefined && data.weight === undefined) {
    if (data.hidden !== undefined) {
      throw new SwitchyardError('shape', `${argument}.weight`, `router '${spec.kind}' computes logits as hidden · weightᵀ + bias: expected weight [numExperts=${E}, dModel=${data.dModel}] beside hidden, received undefined`);
    }
    throw new SwitchyardError('shape', `${argument}.logits`, `router '${spec.kind}' expected logits [tokens, numExperts], or hidden [tokens, dModel] with weight [numExperts, dModel]; received neither`);
  }
  if (spec.kind === 'self') {
    if (data.hidden === undefined || data.dModel === undefined) {
      throw new SwitchyardError('shape', `${argument}.hidden`, `router 'self' reads hidden [tokens=${nToken}, dModel]; received undefined`);
    }
    checkSelfSlice(spec.offset, data.dModel, E, 'spec.offset', { argument: `${argument}.hidden`, code: 'shape' });
  }
  if (spec.kind === 'hash') {
    const vocab = spec.table ? spec.table.length / spec.topK : undefined;
    if (input.tokenIds === undefined) {
      throw new SwitchyardError('shape', `${argument}.tokenIds`, `router 'hash' reads token ids, expected an Int32Array [tokens=${nToken}], received undefined`);
    }
    data.tokenIds = tokenIdsOf(input.tokenIds, nToken, vocab, `${argument}.tokenIds`);
  } else if (input.tokenIds !== undefined) {
    data.tokenIds = tokenIdsOf(input.tokenIds, nToken, undefined, `${argument}.tokenIds`);
  }
  return data;
}
