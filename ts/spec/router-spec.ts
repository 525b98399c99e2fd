// Validation of RouterSpec into the normalised form the paths consume.
import { SwitchyardError, describe } from '../errors.js';
import type { RouterSpec } from './types.js';
import { booleanFlag, finiteNumber, oneOf, positiveInteger } from './check.js';

/** A validated token-choice softmax router: every default filled in. */
export interface ResolvedTopKSpec {
  kind: 'topk';
  numExperts: number;
  topK: number;
  score: 'softmax';
  normalize: boolean;
  scale: number;
}

const ROUTER_KINDS = ['topk', 'hash', 'sinkhorn', 'expert-choice', 'self', 'random'] as const;
const SUPPORTED_KINDS = ['topk'] as const;

export function resolveRouterSpec(spec: RouterSpec, argument = 'spec'): ResolvedTopKSpec {
  if (spec === null || typeof spec !== 'object') {
    throw new SwitchyardError('config', argument, `expected a RouterSpec object, received ${describe(spec)}`);
  }
  const kind = oneOf(spec.kind, ROUTER_KINDS, `${argument}.kind`, 'topk' as never);
  if (!(SUPPORTED_KINDS as readonly string[]).includes(kind)) {
    throw new SwitchyardError('config', `${argument}.kind`, `router kind '${kind}' is not available in this version; available: 'topk'`);
  }
  const numExperts = positiveInteger(spec.numExperts, `${argument}.numExperts`);
  const topK = positiveInteger(spec.topK, `${argument}.topK`);
  if (topK > numExperts) {
    throw new SwitchyardError('range', `${argument}.topK`, `expected 1 ≤ topK ≤ numExperts = ${numExperts}, received ${topK}`);
  }
  const s = spec as RouterSpec & { score?: unknown; normalize?: unknown; scale?: unknown; selectionBias?: unknown; groups?: unknown; capacity?: unknown };
  const score = oneOf(s.score, ['softmax', 'sigmoid', 'sqrt-softplus'] as const, `${argument}.score`, 'softmax');
  if (score !== 'softmax') {
    throw new SwitchyardError('config', `${argument}.score`, `score '${score}' is not available in this version; available: 'softmax'`);
  }
  for (const field of ['selectionBias', 'groups', 'capacity'] as const) {
    if (s[field] !== undefined) {
      throw new SwitchyardError('config', `${argument}.${field}`, `'${field}' is not available in this version of the topk router`);
    }
  }
  const normalize = booleanFlag(s.normalize, `${argument}.normalize`, false);
  const scale = s.scale === undefined ? 1 : finiteNumber(s.scale, `${argument}.scale`);
  return { kind: 'topk', numExperts, topK, score, normalize, scale };
}
