// Hash routing (Roller et al. 2021, "Hash Layers For Large Sparse Models"): experts from a fixed function
// of the token id — a lookup table (e.g. DeepSeek-V4's tid2eid) or the built-in fmix32 walk below — and
// Roller's balanced assignment table built from token frequencies.

/** MurmurHash3's 32-bit finaliser: a bijection on u32 with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The golden-ratio increment between successive hashes of one key. */
const HASH_STEP = 0x9e3779b9;
/** Draws before the walk gives up and fills the remaining slots in index order, so it always ends. */
export const HASH_MAX_DRAWS_PER_EXPERT = 64;

/**
 * k distinct experts for a key: h₀ = fmix32(key ⊕ seed), hⱼ₊₁ = fmix32(hⱼ + 0x9e3779b9), candidate
 * hⱼ mod E, skipping experts already chosen. Writes out[offset .. offset + k).
 */
export function hashExperts(key: number, seed: number, nExpert: number, k: number, out: Int32Array, offset: number): void {
  let h = fmix32((key ^ seed) >>> 0);
  let chosen = 0;
  const limit = HASH_MAX_DRAWS_PER_EXPERT * nExpert;
  for (let draw = 0; chosen < k && draw < limit; draw++) {
    const e = h % nExpert;
    let seen = false;
    for (let j = 0; j < chosen; j++) if (out[offset + j] === e) seen = true;
    if (!seen) out[offset + chosen++] = e;
    h = fmix32((h + HASH_STEP) >>> 0);
  }
  for (let e = 0; chosen < k; e++) {
    let seen = false;
    for (let j = 0; j < chosen; j++) if (out[offset + j] === e) seen = true;
    if (!seen) out[offset + chosen++] = e;
  }
}

/**
 * Roller's balanced assignment: tokens by descending frequency (ties to the lower id), each slot to the
 * least-loaded expert not yet chosen for that token (ties to the lower index); load grows by the
 * token's frequency. Returns the table [vocab, k].
 *
 * @example
 * const table = balancedHashTable(counts, 64, 1);
 * await route({ kind: 'hash', numExperts: 64, topK: 1, table }, { tokens: T, tokenIds });
 */
export function balancedHashTable(frequencies: ArrayLike<number>, nExpert: number, k: number): Int32Array {
  const vocab = frequencies.length;
  const order = Array.from({ length: vocab }, (_, v) => v).sort((a, b) => frequencies[b] - frequencies[a] || a - b);
  const load = new Float64Array(nExpert);
  const table = new Int32Array(vocab * k);
  for (const v of order) {
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let e = 0; e < nExpert; e++) {
        let taken = false;
        for (let i = 0; i < j; i++) if (table[v * k + i] === e) taken = true;
        if (!taken && (best < 0 || load[e] < load[best])) best = e;
      }
      table[v * k + j] = best;
      load[best] += frequencies[v];
    }
  }
  return table;
}
