// Reference experts over a dispatch plan, in f64: out[t] = Σ_j w_tj · expert_j(x_t), with the expert
// function of ExpertWeights (activation, optional biases).
import { isGated, type ExpertWeights, type PreparedExperts } from '../backends/backend.js';
import type { DispatchPlan } from '../spec/types.js';
import { activate } from './activations.js';

export interface ReferenceExperts extends PreparedExperts {
  readonly weights: ExpertWeights;
}

export function prepareReferenceExperts(weights: ExpertWeights): ReferenceExperts {
  const { nExpert, dModel, dFF } = weights;
  // A copy, as the fast paths' packing is: the block then answers the same whether or not the caller
  // reuses its weight buffers (or the checkpoint's bytes) after createMoE.
  const own = <A extends Float32Array | undefined>(a: A): A => a?.slice() as A;
  const copied: ExpertWeights = {
    ...weights,
    gate: own(weights.gate), up: own(weights.up), down: own(weights.down),
    gateBias: own(weights.gateBias), upBias: own(weights.upBias), downBias: own(weights.downBias),
  };
  return { nExpert, dModel, dFF, weights: copied, destroy() {} };
}

/** y = down_e h + downBias_e with h from the activation of (gate_e x, up_e x); writes y [dModel] (f64). */
function expertRow(w: ExpertWeights, e: number, hidden: Float32Array, x: number, h: Float64Array, y: Float64Array): void {
  const { dModel, dFF } = w;
  const activation = w.activation ?? 'swiglu';
  const gated = isGated(activation);
  const alpha = w.alpha ?? 1.702;
  const limit = w.limit ?? 7;
  const base = e * dFF * dModel;
  for (let f = 0; f < dFF; f++) {
    let g = w.gateBias ? w.gateBias[e * dFF + f] : 0;
    let u = w.upBias ? w.upBias[e * dFF + f] : 0;
    const row = base + f * dModel;
    for (let i = 0; i < dModel; i++) {
      if (gated) g += w.gate[row + i] * hidden[x + i];
      u += w.up[row + i] * hidden[x + i];
    }
    h[f] = activate(activation, g, u, alpha, limit);
  }
  const downBase = e * dModel * dFF;
  for (let o = 0; o < dModel; o++) {
    let acc = w.downBias ? w.downBias[e * dModel + o] : 0;
    const row = downBase + o * dFF;
    for (let f = 0; f < dFF; f++) acc += w.down[row + f] * h[f];
    y[o] = acc;
  }
}

export function runReferenceExperts(
  experts: ReferenceExperts,
  hidden: Float32Array, // [nToken, dModel]
  nToken: number,
  plan: DispatchPlan,
): Float32Array {
  const { weights: w, dModel, nExpert } = experts;
  // Each assignment's weighted expert output, keyed by its slot t·k + j.
  const contributions: { slot: number; token: number; y: Float64Array }[] = [];
  const h = new Float64Array(w.dFF);
  for (let e = 0; e < nExpert; e++) {
    for (let r = plan.offsets[e]; r < plan.offsets[e + 1]; r++) {
      if (plan.slots[r] < 0) continue; // padding rows carry weight 0 and no assignment
      const y = new Float64Array(dModel);
      expertRow(w, e, hidden, plan.rows[r] * dModel, h, y);
      for (let o = 0; o < dModel; o++) y[o] *= plan.weights[r];
      contributions.push({ slot: plan.slots[r], token: plan.rows[r], y });
    }
  }
  // Summed per token in slot order, so the result does not depend on the order of experts.
  contributions.sort((a, b) => a.slot - b.slot);
  const acc = new Float64Array(nToken * dModel); // [nToken, dModel]
  for (const { token, y } of contributions) {
    for (let o = 0; o < dModel; o++) acc[token * dModel + o] += y[o];
  }
  return Float32Array.from(acc);
}
