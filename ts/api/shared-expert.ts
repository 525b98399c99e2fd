// The shared expert as a dispatch plan: every token, weighted by σ(x · gate) (Qwen2-MoE) or 1 (DeepSeek),
// so the same expert kernels that run the routed experts run it too.
import type { DispatchPlan } from '../spec/types.js';

export function sharedExpertPlan(
  hidden: Float32Array, // [nToken, dModel]
  nToken: number,
  dModel: number,
  gate: Float32Array | undefined, // [dModel]
): DispatchPlan {
  const weights = new Float32Array(nToken).fill(1);
  if (gate) {
    for (let t = 0; t < nToken; t++) {
      let z = 0;
      for (let i = 0; i < dModel; i++) z += hidden[t * dModel + i] * gate[i];
      weights[t] = 1 / (1 + Math.exp(-z));
    }
  }
  const rows = Int32Array.from({ length: nToken }, (_, t) => t);
  // One slot per token: the shared expert is its token's only assignment in this plan.
  return { offsets: Int32Array.of(0, nToken), rows, weights, slots: rows.slice() };
}

/** out += extra, elementwise. */
export function addInto(out: Float32Array, extra: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] += extra[i];
  return out;
}
