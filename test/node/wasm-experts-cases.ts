// Seeded expert weights and plans shared by the wasm expert tests (wasm-experts*.test.ts).
import { expect } from 'vitest';
import { isGated, type ExpertWeights } from '../../ts/backends/backend.js';
import type { Activation, DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';

/** max |got − want| / max(‖want‖∞, 1e-6): error relative to the oracle's size, as GEMM outputs are judged. */
export function relError(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    norm = Math.max(norm, Math.abs(want[i]));
  }
  return Number.isNaN(diff) ? Infinity : diff / Math.max(norm, 1e-6);
}

/**
 * Random experts. gateScale widens the gate pre-activations so swiglu-oai's clamp (limit 7) and gelu's
 * tails are exercised, not only the region near 0.
 */
export function randomExperts(
  seed: number, activation: Activation, nExpert: number, dModel: number, dFF: number, bias: boolean, gateScale = 3,
): ExpertWeights {
  const r = rng(seed);
  const gated = isGated(activation);
  return {
    nExpert, dModel, dFF, activation, alpha: 1.702, limit: 7,
    gate: gated ? normal(r, nExpert * dFF * dModel, gateScale / Math.sqrt(dModel)) : new Float32Array(0),
    up: normal(r, nExpert * dFF * dModel, gateScale / Math.sqrt(dModel)),
    down: normal(r, nExpert * dModel * dFF, 1 / Math.sqrt(dFF)),
    gateBias: bias && gated ? normal(r, nExpert * dFF, 1) : undefined,
    upBias: bias ? normal(r, nExpert * dFF, 1) : undefined,
    downBias: bias ? normal(r, nExpert * dModel, 1) : undefined,
  };
}

/**
 * A plan giving expert e exactly counts[e] rows (tokens drawn without repetition per expert), so row
 * counts hit the 4-row tile edges on purpose; slots are unique per token, weights random.
 */
export function planWithCounts(nToken: number, counts: number[], seed: number): DispatchPlan {
  const r = rng(seed);
  const rows: number[] = [];
  const offsets = [0];
  const perToken = new Array<number>(nToken).fill(0);
  const slotsOf: [number, number][] = [];
  for (const c of counts) {
    const tokens = Array.from({ length: nToken }, (_, t) => t).sort(() => r() - 0.5).slice(0, c).sort((a, b) => a - b);
    for (const t of tokens) {
      rows.push(t);
      slotsOf.push([t, perToken[t]++]);
    }
    offsets.push(rows.length);
  }
  const k = Math.max(1, ...perToken);
  return {
    offsets: Int32Array.from(offsets),
    rows: Int32Array.from(rows),
    weights: Float32Array.from(rows, () => r()),
    slots: Int32Array.from(slotsOf, ([t, j]) => t * k + j),
  };
}

/** A seeded SwiGLU block (renormalised top-2) for createMoE, and T tokens of hidden state. */
export function seededSwigluBlock(seed: number, shape: { E: number; d: number; f: number; T: number }) {
  const { E, d, f, T } = shape;
  const r = rng(seed);
  const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu' as const } };
  const weights = {
    'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d, 0.3),
    'experts.up': normal(r, E * f * d, 0.3), 'experts.down': normal(r, E * d * f, 0.3),
  };
  return { config, weights, hidden: normal(r, T * d), T };
}
