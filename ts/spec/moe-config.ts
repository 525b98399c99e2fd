// Validation of MoEConfig and its weights into the canonical f32 form the paths consume.
import { SwitchyardError, describe } from '../errors.js';
import type { ExpertWeights } from '../backends/backend.js';
import { tensorShape, toFloat32 } from '../formats/dtype.js';
import type { MoEConfig, TensorLike } from './types.js';
import { oneOf, positiveInteger } from './check.js';
import { needsLogits, resolveRouterSpec, type ResolvedRouterSpec } from './router-spec.js';

export interface ResolvedMoE {
  dModel: number;
  dFF: number;
  router: ResolvedRouterSpec;
  /** [nExpert, dModel]; absent for routers that read no logits (self, random, uniform hash) */
  routerWeight: Float32Array | undefined;
  /** [nExpert] */
  routerBias: Float32Array | undefined;
  experts: ExpertWeights;
}

const ACTIVATIONS = ['swiglu', 'geglu', 'gelu', 'relu', 'silu', 'swiglu-oai'] as const;

function resolveDims(config: MoEConfig): { dModel: number; dFF: number; router: ResolvedRouterSpec } {
  if (config === null || typeof config !== 'object') {
    throw new SwitchyardError('config', 'config', `expected a MoEConfig object, received ${describe(config)}`);
  }
  const dModel = positiveInteger(config.dModel, 'config.dModel');
  const router = resolveRouterSpec(config.router, 'config.router');
  if (config.expert === null || typeof config.expert !== 'object') {
    throw new SwitchyardError('config', 'config.expert', `expected { dFF, activation }, received ${describe(config.expert)}`);
  }
  const dFF = positiveInteger(config.expert.dFF, 'config.expert.dFF');
  const activation = oneOf(config.expert.activation, ACTIVATIONS, 'config.expert.activation', 'swiglu');
  if (activation !== 'swiglu') {
    throw new SwitchyardError('config', 'config.expert.activation', `activation '${activation}' is not available in this version; available: 'swiglu'`);
  }
  for (const field of ['bias', 'alpha', 'limit'] as const) {
    if (config.expert[field] !== undefined) {
      throw new SwitchyardError('config', `config.expert.${field}`, `'${field}' is not available in this version`);
    }
  }
  if (config.shared !== undefined) {
    throw new SwitchyardError('config', 'config.shared', 'shared experts are not available in this version');
  }
  return { dModel, dFF, router };
}

/** One named weight as f32, checked against its expected shape (a bare Float32Array is checked by length). */
function weightOf(weights: Record<string, TensorLike>, name: string, shape: number[], required: boolean): Float32Array | undefined {
  const argument = `weights['${name}']`;
  const t = weights[name];
  if (t === undefined) {
    if (!required) return undefined;
    throw new SwitchyardError('shape', argument, `missing: expected a tensor [${shape.join(', ')}]`);
  }
  const expected = shape.reduce((a, b) => a * b, 1);
  if (t instanceof Float32Array) {
    if (t.length !== expected) {
      throw new SwitchyardError('shape', argument, `expected [${shape.join(', ')}] = ${expected} elements, received ${t.length}`);
    }
  } else if (t !== null && typeof t === 'object' && Array.isArray(t.shape)) {
    const got = tensorShape(t);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new SwitchyardError('shape', argument, `expected shape [${shape.join(', ')}], received [${got.join(', ')}]`);
    }
  }
  const values = toFloat32(t, argument);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new SwitchyardError('range', argument, `expected finite values, received ${values[i]} at element ${i}`);
    }
  }
  return values;
}

const KNOWN_WEIGHTS = ['router.weight', 'router.bias', 'experts.gate', 'experts.up', 'experts.down'];

export function resolveMoE(config: MoEConfig, weights: Record<string, TensorLike>): ResolvedMoE {
  const { dModel, dFF, router } = resolveDims(config);
  if (weights === null || typeof weights !== 'object') {
    throw new SwitchyardError('shape', 'weights', `expected a record of named tensors, received ${describe(weights)}`);
  }
  for (const name of Object.keys(weights)) {
    if (!KNOWN_WEIGHTS.includes(name)) {
      throw new SwitchyardError('config', `weights['${name}']`, `unexpected weight name; expected one of ${KNOWN_WEIGHTS.join(', ')}`);
    }
  }
  const E = router.numExperts;
  const routerWeight = weightOf(weights, 'router.weight', [E, dModel], needsLogits(router));
  if (router.kind === 'self') {
    const offset = router.offset ?? dModel - E;
    if (offset < 0 || offset + E > dModel) {
      throw new SwitchyardError('range', 'config.router.offset', `expected offset + numExperts ≤ dModel = ${dModel}, received offset ${offset} with numExperts ${E}`);
    }
  }
  const routerBias = weightOf(weights, 'router.bias', [E], false);
  const experts: ExpertWeights = {
    nExpert: E,
    dModel,
    dFF,
    gate: weightOf(weights, 'experts.gate', [E, dFF, dModel], true)!,
    up: weightOf(weights, 'experts.up', [E, dFF, dModel], true)!,
    down: weightOf(weights, 'experts.down', [E, dModel, dFF], true)!,
  };
  return { dModel, dFF, router, routerWeight, routerBias, experts };
}
