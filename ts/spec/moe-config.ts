// Validation of MoEConfig and its weights into the canonical f32 form the paths consume.
import { SwitchyardError, describe } from '../errors.js';
import { isGated, type ExpertWeights } from '../backends/backend.js';
import { tensorShape, toFloat32 } from '../formats/dtype.js';
import { DeferredTensor } from '../formats/deferred-tensor.js';
import type { Activation, MoEConfig, TensorLike } from './types.js';
import { booleanFlag, finiteNumber, firstNonFinite, isKnownFinite, oneOf, positiveInteger } from './check.js';
import { refuseMisspeltFields } from './misspelt-fields.js';
import { checkSelfSlice, needsLogits, resolveRouterSpec, type ResolvedRouterSpec } from './router-spec.js';

/** A shared expert: one expert every token passes through, optionally behind a σ gate (Qwen2-MoE). */
export interface ResolvedShared {
  /** nExpert = 1 */
  experts: ExpertWeights;
  /** [dModel]: σ(x · gate) scales the shared output; absent = ungated (DeepSeek) */
  gate: Float32Array | undefined;
}

export interface ResolvedMoE {
  /** The expert projections read by rows (DeferredTensor), to own() their bytes if the block keeps them. */
  deferred: DeferredTensor[];
  dModel: number;
  dFF: number;
  router: ResolvedRouterSpec;
  /** [nExpert, dModel]; absent for routers that read no logits (self, random, uniform hash) */
  routerWeight: Float32Array | undefined;
  /** [nExpert] */
  routerBias: Float32Array | undefined;
  experts: ExpertWeights;
  shared: ResolvedShared | undefined;
}

const ACTIVATIONS = ['swiglu', 'geglu', 'gelu', 'relu', 'silu', 'swiglu-oai'] as const;

interface Dims {
  dModel: number;
  dFF: number;
  router: ResolvedRouterSpec;
  activation: Activation;
  bias: boolean;
  alpha: number;
  limit: number;
  shared: { dFF: number; gated: boolean } | undefined;
}

function resolveDims(config: MoEConfig): Dims {
  if (config === null || typeof config !== 'object') {
    throw new SwitchyardError('config', 'config', `expected a MoEConfig object, received ${describe(config)}`);
  }
  refuseMisspeltFields(config, ['dModel', 'router', 'expert', 'shared'], 'config', 'a MoEConfig');
  const dModel = positiveInteger(config.dModel, 'config.dModel');
  const router = resolveRouterSpec(config.router, 'config.router');
  if (config.expert === null || typeof config.expert !== 'object') {
    throw new SwitchyardError('config', 'config.expert', `expected { dFF, activation }, received ${describe(config.expert)}`);
  }
  refuseMisspeltFields(config.expert, ['dFF', 'activation', 'bias', 'alpha', 'limit'], 'config.expert', 'config.expert');
  const dFF = positiveInteger(config.expert.dFF, 'config.expert.dFF');
  const activation = oneOf(config.expert.activation, ACTIVATIONS, 'config.expert.activation', 'swiglu');
  const bias = booleanFlag(config.expert.bias, 'config.expert.bias', false);
  // GPT-OSS's clamped SwiGLU constants (modeling_gpt_oss: alpha 1.702, swiglu_limit 7.0).
  const alpha = config.expert.alpha === undefined ? 1.702 : finiteNumber(config.expert.alpha, 'config.expert.alpha');
  const limit = config.expert.limit === undefined ? 7 : finiteNumber(config.expert.limit, 'config.expert.limit');
  if (activation !== 'swiglu-oai' && (config.expert.alpha !== undefined || config.expert.limit !== undefined)) {
    throw new SwitchyardError('config', config.expert.alpha !== undefined ? 'config.expert.alpha' : 'config.expert.limit', `only 'swiglu-oai' reads alpha and limit; activation is '${activation}'`);
  }
  let shared: Dims['shared'];
  if (config.shared !== undefined) {
    if (config.shared === null || typeof config.shared !== 'object') {
      throw new SwitchyardError('config', 'config.shared', `expected { dFF, gated }, received ${describe(config.shared)}`);
    }
    refuseMisspeltFields(config.shared, ['dFF', 'gated'], 'config.shared', 'config.shared');
    shared = { dFF: positiveInteger(config.shared.dFF, 'config.shared.dFF'), gated: booleanFlag(config.shared.gated, 'config.shared.gated', false) };
  }
  return { dModel, dFF, router, activation, bias, alpha, limit, shared };
}

/** What createMoE reads weights from: the caller's tensors, or (fromHuggingFace) deferred checkpoint tensors. */
export type WeightSource = Record<string, TensorLike | DeferredTensor>;

/**
 * One named weight, checked against its expected shape (a bare Float32Array is checked by length): as f32,
 * or as itself when it is deferred and `deferrable` (an expert projection, which the paths read by rows).
 */
function weightOf(weights: WeightSource, name: string, shape: number[], required: boolean, deferrable = false): Float32Array | DeferredTensor | undefined {
  const argument = `weights['${name}']`;
  const t = weights[name];
  if (t === undefined) {
    if (!required) return undefined;
    throw new SwitchyardError('shape', argument, `missing: expected a tensor [${shape.join(', ')}]`);
  }
  if (t instanceof DeferredTensor) {
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new SwitchyardError('shape', argument, `expected shape [${shape.join(', ')}], received [${t.shape.join(', ')}]`);
    }
    // Finite by construction (its reader's contract): no scan.
    return deferrable ? t : t.values();
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
  const i = isKnownFinite(values) ? -1 : firstNonFinite(values);
  if (i >= 0) throw new SwitchyardError('range', argument, `expected finite values, received ${values[i]} at element ${i}`);
  return values;
}

/**
 * ExpertWeights from its projections: an array as it is; a deferred tensor through `rows`, with a getter that
 * makes the array only if a path asks for it (not enumerable, so copying the object does not make it).
 */
function expertWeights(base: Omit<ExpertWeights, 'gate' | 'up' | 'down'>, projections: Record<'gate' | 'up' | 'down', Float32Array | DeferredTensor>): ExpertWeights {
  const w = { ...base } as ExpertWeights;
  for (const name of ['gate', 'up', 'down'] as const) {
    const p = projections[name];
    if (p instanceof DeferredTensor) {
      (w.rows ??= {})[name] = p.read;
      if (p.encoded) (w.rowsEncoded ??= {})[name] = p.encoded;
      Object.defineProperty(w, name, { get: () => p.values(), enumerable: false, configurable: true });
    } else {
      w[name] = p;
    }
  }
  return w;
}

const KNOWN_WEIGHTS = [
  'router.weight', 'router.bias', 'router.selection_bias',
  'experts.gate', 'experts.up', 'experts.down', 'experts.gate_bias', 'experts.up_bias', 'experts.down_bias',
  'shared.gate', 'shared.up', 'shared.down', 'shared.router',
];

/** The router spec with a checkpoint's selection bias (e.g. e_score_correction_bias) folded in. */
function withSelectionBias(router: ResolvedRouterSpec, bias: Float32Array | undefined): ResolvedRouterSpec {
  if (!bias) return router;
  if (router.kind !== 'topk') {
    throw new SwitchyardError('config', "weights['router.selection_bias']", `only the 'topk' router reads a selection bias; router is '${router.kind}'`);
  }
  if (router.selectionBias) {
    throw new SwitchyardError('config', "weights['router.selection_bias']", 'given both as a weight and as config.router.selectionBias; give one');
  }
  return { ...router, selectionBias: bias };
}

export function resolveMoE(config: MoEConfig, weights: WeightSource): ResolvedMoE {
  const dims = resolveDims(config);
  const { dModel, dFF, activation, bias } = dims;
  if (weights === null || typeof weights !== 'object') {
    throw new SwitchyardError('shape', 'weights', `expected a record of named tensors, received ${describe(weights)}`);
  }
  // shared.gated left out: the weights say it — a σ gate is there exactly when its vector is.
  if (dims.shared && config.shared!.gated === undefined) dims.shared.gated = weights['shared.router'] !== undefined;
  for (const name of Object.keys(weights)) {
    if (!KNOWN_WEIGHTS.includes(name)) {
      throw new SwitchyardError('config', `weights['${name}']`, `unexpected weight name; expected one of ${KNOWN_WEIGHTS.join(', ')}`);
    }
  }
  const E = dims.router.numExperts;
  const gated = isGated(activation);
  // Every weight the config reads is noted, so a given weight the config ignores is reported, not dropped.
  const read = new Set<string>();
  const take = (name: string, shape: number[], required: boolean): Float32Array | undefined => {
    read.add(name);
    return weightOf(weights, name, shape, required) as Float32Array | undefined;
  };
  const takeProjection = (name: string, shape: number[]): Float32Array | DeferredTensor => {
    read.add(name);
    return weightOf(weights, name, shape, true, true)!;
  };
  // The router's small tensors are read on every call by every path: copied, so that a caller reusing its
  // buffers after createMoE changes nothing (the experts' are copied by each path's prepareExperts, and a
  // deferred projection a block keeps copies its bytes before createMoE returns).
  const takeCopy = (name: string, shape: number[], required: boolean): Float32Array | undefined =>
    take(name, shape, required)?.slice();
  const routerWeight = takeCopy('router.weight', [E, dModel], needsLogits(dims.router));
  const router = withSelectionBias(dims.router, takeCopy('router.selection_bias', [E], false));
  if (router.kind === 'self') checkSelfSlice(router.offset, dModel, E, 'config.router.offset', { argument: 'config.dModel', code: 'range' });
  // Projections before biases: the order their errors are reported in.
  const projections = {
    gate: gated ? takeProjection('experts.gate', [E, dFF, dModel]) : new Float32Array(0),
    up: takeProjection('experts.up', [E, dFF, dModel]),
    down: takeProjection('experts.down', [E, dModel, dFF]),
  };
  const experts = expertWeights({
    nExpert: E, dModel, dFF, activation, alpha: dims.alpha, limit: dims.limit,
    gateBias: bias && gated ? take('experts.gate_bias', [E, dFF], true) : undefined,
    upBias: bias ? take('experts.up_bias', [E, dFF], true) : undefined,
    downBias: bias ? take('experts.down_bias', [E, dModel], true) : undefined,
  }, projections);
  let shared: ResolvedShared | undefined;
  if (dims.shared) {
    const f = dims.shared.dFF;
    shared = {
      experts: {
        nExpert: 1, dModel, dFF: f, activation, alpha: dims.alpha, limit: dims.limit,
        gate: gated ? take('shared.gate', [f, dModel], true)! : new Float32Array(0),
        up: take('shared.up', [f, dModel], true)!,
        down: take('shared.down', [dModel, f], true)!,
      },
      gate: dims.shared.gated ? takeCopy('shared.router', [1, dModel], true) : undefined,
    };
  }
  const routerBias = takeCopy('router.bias', [E], false);
  const unread = Object.keys(weights).find((name) => !read.has(name));
  if (unread !== undefined) {
    throw new SwitchyardError('config', `weights['${unread}']`, 'given, but the config does not use it (check expert.activation, expert.bias and shared)');
  }
  const deferred = Object.values(projections).filter((p): p is DeferredTensor => p instanceof DeferredTensor);
  return { deferred, dModel, dFF, router, routerWeight, routerBias, experts, shared };
}
