// Routing health (DESIGN.md §3 "Routing"; definitions in ts/reference/stats.ts), accumulated in f64:
// load per expert from the plan (padding rows excluded), dropped slots, normalised token and load
// entropies, max/mean and coefficient of variation of the load, dead experts.

/** Slots of the f64 result written by routingStats, in order. */
export const STAT_DROPPED = 0;
export const STAT_DROPPED_FRACTION = 1;
export const STAT_TOKEN_ENTROPY = 2;
export const STAT_LOAD_ENTROPY = 3;
export const STAT_MAX_OVER_MEAN = 4;
export const STAT_CV = 5;
export const STAT_DEAD_EXPERTS = 6;
export const STAT_COUNT = 7;

/** H(p)/ln n of the distribution given by n non-negative masses of type K; 0 when n ≤ 1 or no mass. */
function normalizedEntropy<K>(mass: usize, n: i32): f64 {
  if (n <= 1) return 0;
  const shift: usize = sizeof<K>() == 8 ? 3 : 2;
  let total: f64 = 0;
  for (let i = 0; i < n; i++) total += <f64>load<K>(mass + (<usize>i << shift));
  if (!(total > 0)) return 0;
  let h: f64 = 0;
  for (let i = 0; i < n; i++) {
    const p = <f64>load<K>(mass + (<usize>i << shift)) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h / Math.log(<f64>n);
}

/**
 * normalizedEntropy of one token's softmax scores p = exp(z − m) / Σ exp(z − m) (m = max z), with
 * log p = (z − m) + log p_max: one log per token where the definition takes one per expert, which were most of
 * a large routing's time (route() T4096/E64 top-k: 5.6–5.9 → 4.3–4.5 ms). z − m is exact in f64 and p_max = 1 / Σ is
 * a score already rounded, so logits of any size keep their precision (z − logsumexp would not: beside logits
 * of 1e30 the logsumexp's log Σ is below an f64 ulp). The same value as the reference's to ~1e-16 absolute.
 * Scores that underflowed to 0 add 0, as the reference skips them.
 * @param z  [n] f32 logits whose softmax the scores are
 */
function softmaxEntropy(scores: usize, z: usize, n: i32, logN: f64): f64 {
  if (n <= 1) return 0;
  let total: f64 = 0;
  let m: f64 = -Infinity;
  let top = 0;
  for (let i = 0; i < n; i++) {
    total += load<f64>(scores + (<usize>i << 3));
    const zi = <f64>load<f32>(z + (<usize>i << 2));
    if (zi > m) {
      m = zi;
      top = i;
    }
  }
  if (!(total > 0)) return 0;
  let h: f64 = 0;
  for (let i = 0; i < n; i++) h -= load<f64>(scores + (<usize>i << 3)) / total * (<f64>load<f32>(z + (<usize>i << 2)) - m);
  // −Σ q log q with q = p / total, log q = (z − m) + log(p_max / total) and Σ q = 1.
  return (h - Math.log(load<f64>(scores + (<usize>top << 3)) / total)) / logN;
}

/**
 * @param offsets [nExpert + 1] i32 plan offsets; slots [nRow] i32 plan slots (−1 = padding row)
 * @param scores  [nToken, nExpert] f64 the router's distribution before f32 (the aux loss's scores, as the
 *                reference's lossProbs): tokenEntropy reads these, so scores that underflow f32 still count
 * @param routed  assignments the selection made before any capacity drop
 * @param perExpert [nExpert] i32 out: the load
 * @param out     [STAT_COUNT] f64 out
 * @param logits  [nToken, nExpert] f32 whose softmax the scores are (softmaxEntropy), else 0
 */
export function routingStats(
  offsets: usize, slots: usize, scores: usize, nToken: i32, nExpert: i32, k: i32, routed: i32, perExpert: usize, out: usize,
  logits: usize,
): void {
  let total = 0;
  let most = 0;
  let dead = 0;
  for (let e = 0; e < nExpert; e++) {
    let n = 0;
    const end = load<i32>(offsets + ((<usize>e + 1) << 2));
    for (let r = load<i32>(offsets + (<usize>e << 2)); r < end; r++) if (load<i32>(slots + (<usize>r << 2)) >= 0) n++;
    store<i32>(perExpert + (<usize>e << 2), n);
    total += n;
    most = max(most, n);
    if (n == 0) dead++;
  }
  const mean = <f64>total / <f64>nExpert;
  let variance: f64 = 0;
  for (let e = 0; e < nExpert; e++) {
    const d = <f64>load<i32>(perExpert + (<usize>e << 2)) - mean;
    variance += d * d;
  }
  variance /= <f64>nExpert;
  let tokenEntropy: f64 = 0;
  const logN = Math.log(<f64>nExpert);
  for (let t = 0; t < nToken; t++) {
    const row = scores + (<usize>t * <usize>nExpert << 3);
    tokenEntropy += logits != 0
      ? softmaxEntropy(row, logits + (<usize>t * <usize>nExpert << 2), nExpert, logN)
      : normalizedEntropy<f64>(row, nExpert);
  }
  const dropped = routed - total;
  const slotCount = nToken * k;
  store<f64>(out + (STAT_DROPPED << 3), <f64>dropped);
  store<f64>(out + (STAT_DROPPED_FRACTION << 3), slotCount > 0 ? <f64>dropped / <f64>slotCount : 0);
  store<f64>(out + (STAT_TOKEN_ENTROPY << 3), nToken > 0 ? tokenEntropy / <f64>nToken : 0);
  store<f64>(out + (STAT_LOAD_ENTROPY << 3), normalizedEntropy<i32>(perExpert, nExpert));
  store<f64>(out + (STAT_MAX_OVER_MEAN << 3), mean > 0 ? <f64>most / mean : 0);
  // Variance taken directly (not a std of a std) so perfect balance gives exactly 0, as the reference.
  store<f64>(out + (STAT_CV << 3), mean > 0 ? Math.sqrt(variance) / mean : 0);
  store<f64>(out + (STAT_DEAD_EXPERTS << 3), <f64>dead);
}
