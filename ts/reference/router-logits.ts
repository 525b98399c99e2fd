// Reference router projection, accumulated in f64 so it is the most exact value a f32 path can aim at.
import type { RouterLogitsArgs } from '../backends/backend.js';

/** logits[t, e] = Σ_i hidden[t, i] · weight[e, i] + bias[e]; returns [nToken, nExpert]. */
export function routerLogits({ hidden, weight, bias, nToken, dModel, nExpert }: RouterLogitsArgs): Float32Array {
  const logits = new Float32Array(nToken * nExpert);
  for (let t = 0; t < nToken; t++) {
    const x = t * dModel;
    for (let e = 0; e < nExpert; e++) {
      const w = e * dModel;
      let acc = bias ? bias[e] : 0;
      for (let i = 0; i < dModel; i++) acc += hidden[x + i] * weight[w + i];
      logits[t * nExpert + e] = acc;
    }
  }
  return logits;
}
