// Hash routing (Roller et al. 2021) and the random baseline: experts from a lookup table [vocab, k]
// (e.g. DeepSeek-V4's tid2eid), or from the built-in fmix32 walk, bit-identical to hashExperts in
// ts/reference/routers/hash.ts: h₀ = fmix32(key ⊕ seed), hⱼ₊₁ = fmix32(hⱼ + 0x9e3779b9), candidate
// hⱼ mod E, skipping experts already chosen; after 64·E draws the rest is filled in index order.

/** The golden-ratio increment between successive hashes of one key. */
const HASH_STEP: u32 = 0x9e3779b9;
/** Draws before the walk gives up, so it always ends (the reference's HASH_MAX_DRAWS_PER_EXPERT). */
const MAX_DRAWS_PER_EXPERT: i32 = 64;

/** MurmurHash3's 32-bit finaliser; u32 multiplication wraps as Math.imul does. */
// @ts-ignore: decorator
@inline function fmix32(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

/** Whether e is among out[0 .. chosen). */
// @ts-ignore: decorator
@inline function taken(out: usize, chosen: i32, e: i32): bool {
  for (let j = 0; j < chosen; j++) if (load<i32>(out + (<usize>j << 2)) == e) return true;
  return false;
}

/** k distinct experts for one key into out [k]. */
function walk(key: u32, seed: u32, nExpert: i32, k: i32, out: usize): void {
  let h = fmix32(key ^ seed);
  let chosen = 0;
  const limit = MAX_DRAWS_PER_EXPERT * nExpert;
  for (let draw = 0; chosen < k && draw < limit; draw++) {
    const e = <i32>(h % <u32>nExpert);
    if (!taken(out, chosen, e)) store<i32>(out + (<usize>(chosen++) << 2), e);
    h = fmix32(h + HASH_STEP);
  }
  for (let e = 0; chosen < k; e++) {
    if (!taken(out, chosen, e)) store<i32>(out + (<usize>(chosen++) << 2), e);
  }
}

/**
 * @param tokenIds [nToken] i32 keys (hash), or 0 to key by row index t (random)
 * @param table    [vocab, k] i32 lookup table, or 0 for the fmix32 walk (ids are validated < vocab)
 * @param indices  [nToken, k] i32 out
 * @param weights  [nToken, k] f32 out: 1/k each ('uniform'), or 0 to leave them to gatherWeights
 */
export function hashExperts(tokenIds: usize, table: usize, seed: u32, nToken: i32, nExpert: i32, k: i32, indices: usize, weights: usize): void {
  const kBytes = <usize>k << 2;
  for (let t = 0; t < nToken; t++) {
    const out = indices + <usize>t * kBytes;
    const key = tokenIds != 0 ? load<i32>(tokenIds + (<usize>t << 2)) : t;
    if (table != 0) memory.copy(out, table + <usize>key * kBytes, kBytes);
    else walk(<u32>key, seed, nExpert, k, out);
  }
  if (weights != 0) {
    // f64 1/k rounded once, as the reference's Float32Array.fill(1 / k).
    const w = <f32>(1.0 / <f64>k);
    const n = nToken * k;
    for (let i = 0; i < n; i++) store<f32>(weights + (<usize>i << 2), w);
  }
}

/**
 * The mixing weights as a dense distribution over experts, for routers without scores of their own
 * (hash / random without logits): the probs they report and the aux loss reads.
 * @param indices [nToken, k] i32, −1 = none
 * @param weights [nToken, k] f32
 * @param dense   [nToken, nExpert] f64 out
 * @param probs   [nToken, nExpert] f32 out
 */
export function denseWeights(indices: usize, weights: usize, nToken: i32, nExpert: i32, k: i32, dense: usize, probs: usize): void {
  const n = nToken * nExpert;
  memory.fill(dense, 0, <usize>n << 3);
  for (let s = 0; s < nToken * k; s++) {
    const e = load<i32>(indices + (<usize>s << 2));
    if (e < 0) continue;
    const at = dense + ((<usize>(s / k) * <usize>nExpert + <usize>e) << 3);
    store<f64>(at, load<f64>(at) + <f64>load<f32>(weights + (<usize>s << 2)));
  }
  for (let i = 0; i < n; i++) store<f32>(probs + (<usize>i << 2), <f32>load<f64>(dense + (<usize>i << 3)));
}
