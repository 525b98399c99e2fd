// Load-balancing and z losses in Megatron-Core's form (moe_utils.py switch_load_balancing_loss_func,
// z_loss_func; ts/reference/losses.ts): aux = E/(k·T²)·Σₑ(Σₜ Pₜₑ)·Nₑ with N the counts of a plain
// top-k on P, 1.0 at perfect balance; seqAux the same per sequence of S rows, averaged; z = meanₜ lseₜ².
import { topKRow } from './topk-row';

/** Megatron-Core's compute_routing_scores_for_aux_loss adds this to the row sum of sigmoid scores. */
const LOSS_NORM_EPSILON: f64 = 1e-20;

/** Bytes of scratch auxLoss needs. */
export function auxScratchBytes(nExpert: i32, k: i32): usize {
  return (<usize>nExpert * 5 << 3) + (<usize>k << 2);
}

// @ts-ignore: decorator
@inline function lossOf(sumP: usize, counts: usize, nExpert: i32, k: i32, nToken: i32): f64 {
  let acc: f64 = 0;
  for (let e = 0; e < nExpert; e++) acc += load<f64>(sumP + (<usize>e << 3)) * load<f64>(counts + (<usize>e << 3));
  return (<f64>nExpert / (<f64>k * <f64>nToken * <f64>nToken)) * acc;
}

/**
 * Writes out[0] = aux and, when S > 0, out[1] = seqAux.
 * @param scores        [nToken, nExpert] f64: the loss distribution, or scores to divide by their row sum
 * @param normalizeRows 1 for sigmoid / sqrt-softplus scores (Megatron's sum-normalisation), else 0
 * @param selected      [nToken, k] i32 top-k of these very scores (reused to skip a second top-k), or 0
 * @param work          auxScratchBytes(nExpert, k)
 * @param out           [2] f64
 */
export function auxLoss(scores: usize, nToken: i32, nExpert: i32, k: i32, S: i32, normalizeRows: i32, selected: usize, work: usize, out: usize): void {
  const eBytes = <usize>nExpert << 3;
  const row = work; // [nExpert] f64
  const sumP = row + eBytes; // [nExpert] f64 over the call
  const counts = sumP + eBytes;
  const seqSumP = counts + eBytes; // [nExpert] f64 over the current sequence
  const seqCounts = seqSumP + eBytes;
  const chosenBuf = seqCounts + eBytes; // [k] i32
  memory.fill(sumP, 0, eBytes << 1);
  const L = S > 0 ? S : nToken;
  let seqTotal: f64 = 0;
  for (let first = 0; first < nToken; first += L) {
    memory.fill(seqSumP, 0, eBytes << 1);
    for (let t = first; t < first + L; t++) {
      let p = scores + (<usize>t * <usize>nExpert << 3);
      if (normalizeRows != 0) {
        let sum: f64 = 0;
        for (let e = 0; e < nExpert; e++) sum += load<f64>(p + (<usize>e << 3));
        for (let e = 0; e < nExpert; e++) store<f64>(row + (<usize>e << 3), load<f64>(p + (<usize>e << 3)) / (sum + LOSS_NORM_EPSILON));
        p = row;
      }
      for (let e = 0; e < nExpert; e++) {
        const v = load<f64>(p + (<usize>e << 3));
        store<f64>(sumP + (<usize>e << 3), load<f64>(sumP + (<usize>e << 3)) + v);
        store<f64>(seqSumP + (<usize>e << 3), load<f64>(seqSumP + (<usize>e << 3)) + v);
      }
      if (k >= nExpert) {
        // A top-k of every expert (expert choice: k = E) counts each once, in whatever order: no ranking.
        for (let e: usize = 0; e < <usize>nExpert; e++) {
          store<f64>(counts + (e << 3), load<f64>(counts + (e << 3)) + 1);
          store<f64>(seqCounts + (e << 3), load<f64>(seqCounts + (e << 3)) + 1);
        }
        continue;
      }
      let chosen = chosenBuf;
      if (selected != 0) chosen = selected + (<usize>t * <usize>k << 2);
      else topKRow(p, nExpert, k, chosenBuf);
      for (let j = 0; j < k; j++) {
        const e = <usize>load<i32>(chosen + (<usize>j << 2));
        store<f64>(counts + (e << 3), load<f64>(counts + (e << 3)) + 1);
        store<f64>(seqCounts + (e << 3), load<f64>(seqCounts + (e << 3)) + 1);
      }
    }
    seqTotal += lossOf(seqSumP, seqCounts, nExpert, k, L);
  }
  store<f64>(out, lossOf(sumP, counts, nExpert, k, nToken));
  store<f64>(out, S > 0 ? seqTotal / <f64>(nToken / S) : 0, 8);
}

/**
 * z = meanₜ (logsumexpₑ zₜₑ)², the router z-loss of ST-MoE.
 * @param logits [nToken, nExpert] f32
 * @param lse    [nToken] f64 logsumexp already computed by a softmax of these logits, or 0
 */
export function zLoss(logits: usize, lse: usize, nToken: i32, nExpert: i32): f64 {
  let acc: f64 = 0;
  for (let t = 0; t < nToken; t++) {
    let l: f64;
    if (lse != 0) {
      l = load<f64>(lse + (<usize>t << 3));
    } else {
      const z = logits + (<usize>t * <usize>nExpert << 2);
      let m: f64 = -Infinity;
      for (let e = 0; e < nExpert; e++) m = max(m, <f64>load<f32>(z + (<usize>e << 2)));
      let sum: f64 = 0;
      for (let e = 0; e < nExpert; e++) sum += Math.exp(<f64>load<f32>(z + (<usize>e << 2)) - m);
      l = m + Math.log(sum);
    }
    acc += l * l;
  }
  return nToken > 0 ? acc / <f64>nToken : 0;
}
