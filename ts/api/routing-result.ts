// Assembles the Routing result from a path's selection: plan, stats and losses are shared by all paths.
import type { CpuBackend } from '../backends/backend.js';
import { auxLosses, zLoss } from '../reference/losses.js';
import { routingStats } from '../reference/stats.js';
import type { ResolvedBackend, Routing } from '../spec/types.js';

export interface Selection {
  logits: Float32Array; // [nToken, nExpert]
  probs: Float32Array; // [nToken, nExpert]
  indices: Int32Array; // [nToken, k]
  weights: Float32Array; // [nToken, k]
}

export function assembleRouting(
  selection: Selection,
  dims: { nToken: number; nExpert: number; nExpertUsed: number; sequenceLength?: number },
  planner: CpuBackend,
  backend: ResolvedBackend,
): Routing {
  const { nToken, nExpert, nExpertUsed, sequenceLength } = dims;
  const { logits, probs, indices, weights } = selection;
  const plan = planner.buildPlan(indices, weights, nToken, nExpertUsed, nExpert);
  let routed = 0;
  for (let s = 0; s < indices.length; s++) if (indices[s] >= 0) routed++;
  const stats = routingStats(plan, probs, nToken, nExpert, nExpertUsed, routed);
  const losses = { ...auxLosses(probs, nToken, nExpert, nExpertUsed, sequenceLength), z: zLoss(logits, nToken, nExpert) };
  return { indices, weights, probs, logits, plan, stats, losses, backend };
}
