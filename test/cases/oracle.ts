// An independent dense oracle for the test cases, written apart from ts/reference/: every token runs
// through its k experts directly, in f64, from the textbook formulas (Mixtral-style softmax routing).

export interface DenseMoE {
  dModel: number;
  dFF: number;
  nExpert: number;
  k: number;
  normalize: boolean;
  routerWeight: Float32Array; // [nExpert, dModel]
  gate: Float32Array; // [nExpert, dFF, dModel]
  up: Float32Array; // [nExpert, dFF, dModel]
  down: Float32Array; // [nExpert, dModel, dFF]
}

export interface DenseResult {
  logits: Float64Array; // [nToken, nExpert]
  probs: Float64Array; // [nToken, nExpert]
  indices: Int32Array; // [nToken, k]
  weights: Float64Array; // [nToken, k]
  output: Float64Array; // [nToken, dModel]
}

/** Softmax → top-k (score desc, index asc) → optional renormalisation, then Σ w · SwiGLU expert. */
export function denseMoE(m: DenseMoE, hidden: Float32Array, nToken: number, logitsIn?: Float32Array): DenseResult {
  const { dModel: d, dFF: f, nExpert: E, k } = m;
  const logits = new Float64Array(nToken * E);
  const probs = new Float64Array(nToken * E);
  const indices = new Int32Array(nToken * k);
  const weights = new Float64Array(nToken * k);
  const output = new Float64Array(nToken * d);
  for (let t = 0; t < nToken; t++) {
    const z: number[] = [];
    for (let e = 0; e < E; e++) {
      let acc = 0;
      if (logitsIn) acc = logitsIn[t * E + e];
      else for (let i = 0; i < d; i++) acc += hidden[t * d + i] * m.routerWeight[e * d + i];
      z.push(acc);
      logits[t * E + e] = acc;
    }
    const max = Math.max(...z);
    const ex = z.map((v) => Math.exp(v - max));
    const sum = ex.reduce((a, b) => a + b, 0);
    const p = ex.map((v) => v / sum);
    p.forEach((v, e) => (probs[t * E + e] = v));
    const order = p.map((v, e) => [v, e]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
    const kept = order.reduce((a, [v]) => a + v, 0);
    order.forEach(([v, e], j) => {
      indices[t * k + j] = e;
      weights[t * k + j] = m.normalize ? v / kept : v;
    });
    if (logitsIn) continue;
    for (let j = 0; j < k; j++) {
      const e = indices[t * k + j];
      const h = new Float64Array(f);
      for (let r = 0; r < f; r++) {
        let g = 0;
        let u = 0;
        for (let i = 0; i < d; i++) {
          g += m.gate[(e * f + r) * d + i] * hidden[t * d + i];
          u += m.up[(e * f + r) * d + i] * hidden[t * d + i];
        }
        h[r] = (g / (1 + Math.exp(-g))) * u;
      }
      for (let o = 0; o < d; o++) {
        let y = 0;
        for (let r = 0; r < f; r++) y += m.down[(e * d + o) * f + r] * h[r];
        output[t * d + o] += weights[t * k + j] * y;
      }
    }
  }
  return { logits, probs, indices, weights, output };
}
