// Sinkhorn routing (S-BASE; Megatron-Core moe_utils.sinkhorn), as ts/reference/routers/sinkhorn.ts:
// d0 = (1/T)/(C·d1 + ε), d1 = (1/E)/(d0ᵀC + ε) on C = exp(z) until mean|Δd1| ≤ tolerance or the cap.
// Rows are shifted by their max m_t (exp(z) overflows above 88) and the row's factor is carried into its
// ε (ε·e^{−m_t}), which keeps Megatron's iterates while everything stays finite: with logits of ±1e30,
// e^{−m_t} is 0 or ∞ and d0 becomes a finite value or 0, never NaN. All in f64, as the reference.

const SINKHORN_EPSILON: f64 = 1e-8;

/**
 * Overwrites c with the balanced plan diag(d0)·C·diag(d1), rounded to f32; returns the iterations run.
 * @param logits [nToken, nExpert] f32
 * @param c      [nToken, nExpert] f64 out: the plan
 * @param rowEps [nToken] f64 scratch; d0 [nToken] f64 scratch; d1, next [nExpert] f64 scratch
 */
export function sinkhorn(
  logits: usize, nToken: i32, nExpert: i32, tolerance: f64, maxIterations: i32,
  c: usize, rowEps: usize, d0: usize, d1: usize, next: usize,
): i32 {
  for (let t = 0; t < nToken; t++) {
    const z = logits + (<usize>t * <usize>nExpert << 2);
    const row = c + (<usize>t * <usize>nExpert << 3);
    let m: f64 = -Infinity;
    for (let e = 0; e < nExpert; e++) m = max(m, <f64>load<f32>(z + (<usize>e << 2)));
    if (m == -Infinity) m = 0; // unreachable with finite logits; kept in step with the reference
    for (let e = 0; e < nExpert; e++) store<f64>(row + (<usize>e << 3), Math.exp(<f64>load<f32>(z + (<usize>e << 2)) - m));
    store<f64>(rowEps + (<usize>t << 3), SINKHORN_EPSILON * Math.exp(-m));
  }
  for (let e = 0; e < nExpert; e++) store<f64>(d1 + (<usize>e << 3), 1.0);
  const invT: f64 = 1.0 / <f64>nToken;
  const invE: f64 = 1.0 / <f64>nExpert;
  let cur = d1;
  let nxt = next;
  let iterations = 0;
  let error: f64 = Infinity;
  // !(error <= tolerance): a NaN error keeps iterating until the cap instead of stopping early.
  while (iterations < maxIterations && !(error <= tolerance)) {
    for (let t = 0; t < nToken; t++) {
      const row = c + (<usize>t * <usize>nExpert << 3);
      let acc: f64 = 0;
      for (let e = 0; e < nExpert; e++) acc += load<f64>(row + (<usize>e << 3)) * load<f64>(cur + (<usize>e << 3));
      // The reference's 1 / T / (acc + ε): a row whose ε is ∞ gets 0.
      store<f64>(d0 + (<usize>t << 3), invT / (acc + load<f64>(rowEps + (<usize>t << 3))));
    }
    memory.fill(nxt, 0, <usize>nExpert << 3);
    for (let t = 0; t < nToken; t++) {
      const row = c + (<usize>t * <usize>nExpert << 3);
      const a = load<f64>(d0 + (<usize>t << 3));
      for (let e = 0; e < nExpert; e++) {
        const at = nxt + (<usize>e << 3);
        store<f64>(at, load<f64>(at) + a * load<f64>(row + (<usize>e << 3)));
      }
    }
    error = 0;
    for (let e = 0; e < nExpert; e++) {
      const at = nxt + (<usize>e << 3);
      const v = invE / (load<f64>(at) + SINKHORN_EPSILON);
      store<f64>(at, v);
      error += Math.abs(v - load<f64>(cur + (<usize>e << 3)));
    }
    error /= <f64>nExpert;
    const swap = cur;
    cur = nxt;
    nxt = swap;
    iterations++;
  }
  for (let t = 0; t < nToken; t++) {
    const row = c + (<usize>t * <usize>nExpert << 3);
    const a = load<f64>(d0 + (<usize>t << 3));
    for (let e = 0; e < nExpert; e++) {
      const at = row + (<usize>e << 3);
      // Rounded to f32 as the reference does (its comment says why: ties in f32, not exp's last bit).
      store<f64>(at, <f64><f32>(a * load<f64>(at) * load<f64>(cur + (<usize>e << 3))));
    }
  }
  return iterations;
}
