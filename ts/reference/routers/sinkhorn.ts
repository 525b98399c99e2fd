// Sinkhorn routing (S-BASE; Megatron-Core moe_utils.sinkhorn and TopKRouter.sinkhorn_load_balancing):
// select each token's top-k of the Sinkhorn-balanced plan of exp(z), mix with the ORIGINAL scores.
//
// Megatron iterates d0 = (1/T)/(C·d1 + ε), d1 = (1/E)/(d0ᵀC + ε) on C = exp(z) until mean|Δd1| ≤ tol.
// exp(z) overflows for z > 88, so rows are shifted by their max m_t: C' = exp(z − m_t). Carrying the
// row's factor into its ε (ε·e^{−m_t}) keeps the iterates exactly Megatron's (d0' = d0·e^{m_t}, d1 the
// same), while every quantity stays finite: d1 ≤ 1e8/E, and a row whose factor overflows gets d0' = 0.

const SINKHORN_EPSILON = 1e-8;

export interface SinkhornPlan {
  /** [nToken, nExpert] the balanced plan diag(d0)·C·diag(d1), rounded to f32 */
  plan: Float64Array;
  iterations: number;
  /** mean|Δd1| at the last iteration */
  error: number;
}

export function sinkhorn(logits: ArrayLike<number>, nToken: number, nExpert: number, tolerance: number, maxIterations: number): SinkhornPlan {
  const c = new Float64Array(nToken * nExpert);
  const rowEpsilon = new Float64Array(nToken);
  for (let t = 0; t < nToken; t++) {
    let max = -Infinity;
    for (let e = 0; e < nExpert; e++) max = Math.max(max, logits[t * nExpert + e]);
    if (max === -Infinity) max = 0; // a row of −∞ is all zeros either way
    for (let e = 0; e < nExpert; e++) c[t * nExpert + e] = Math.exp(logits[t * nExpert + e] - max);
    rowEpsilon[t] = SINKHORN_EPSILON * Math.exp(-max);
  }
  const d0 = new Float64Array(nToken);
  let d1 = new Float64Array(nExpert).fill(1);
  let next = new Float64Array(nExpert);
  let iterations = 0;
  let error = Infinity;
  while (iterations < maxIterations && !(error <= tolerance)) {
    for (let t = 0; t < nToken; t++) {
      let acc = 0;
      for (let e = 0; e < nExpert; e++) acc += c[t * nExpert + e] * d1[e];
      d0[t] = 1 / nToken / (acc + rowEpsilon[t]); // rowEpsilon = ∞ gives 0: the row is empty
    }
    next.fill(0);
    for (let t = 0; t < nToken; t++) {
      for (let e = 0; e < nExpert; e++) next[e] += d0[t] * c[t * nExpert + e];
    }
    error = 0;
    for (let e = 0; e < nExpert; e++) {
      next[e] = 1 / nExpert / (next[e] + SINKHORN_EPSILON);
      error += Math.abs(next[e] - d1[e]);
    }
    error /= nExpert;
    [d1, next] = [next, d1];
    iterations++;
  }
  // The plan is rounded to f32, the precision Megatron computes it in. In f64 the entries of a row often
  // differ only in the last bits (large logits saturate d0·c/(d0·c + ε) at 1), where one ulp of exp() —
  // V8's and AssemblyScript's differ — would pick different experts on different paths; in f32 those
  // entries are equal and the tie rule (lower expert index) decides, the same everywhere.
  const plan = new Float64Array(nToken * nExpert);
  for (let t = 0; t < nToken; t++) {
    for (let e = 0; e < nExpert; e++) plan[t * nExpert + e] = Math.fround(d0[t] * c[t * nExpert + e] * d1[e]);
  }
  return { plan, iterations, error };
}
