// Which block shapes each fast path runs today. The reference runs everything; a fast path that lacks a
// feature is never handed it (it would compute something else silently) — 'auto' then takes the next path.
import type { ExpertWeights } from '../backends/backend.js';
import type { ResolvedMoE } from '../spec/moe-config.js';

function plainSwiGlu(w: ExpertWeights): boolean {
  return (w.activation ?? 'swiglu') === 'swiglu' && !w.gateBias && !w.upBias && !w.downBias;
}

/** The WASM expert kernels: SwiGLU without biases, routed and shared alike. */
export function wasmRunsExperts(m: ResolvedMoE): boolean {
  return plainSwiGlu(m.experts) && (!m.shared || plainSwiGlu(m.shared.experts));
}

/** A short reason for error messages when a forced path cannot run a block. */
export function expertFeatures(m: ResolvedMoE): string {
  const parts = [`activation '${m.experts.activation ?? 'swiglu'}'`];
  if (m.experts.upBias) parts.push('expert biases');
  if (m.shared) parts.push('a shared expert');
  return parts.join(', ');
}
