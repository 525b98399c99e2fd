// Seeded synthetic data for the demo: weights at a real small model's scale, and hidden states drawn
// around a few cluster centres, as real token states are, so the router has structure to find.

/** mulberry32: a small 32-bit PRNG, uniform in [0, 1); the same seed gives the same data everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n draws of N(0, std²) by Box–Muller. */
export function gaussian(random: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = std * Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  }
  return out;
}

/** [nToken, dModel] hidden states: each token is one of nCluster centres plus N(0, spread²) noise. */
export function clusteredHidden(random: () => number, nToken: number, dModel: number, nCluster: number, spread: number): Float32Array {
  const centres = gaussian(random, nCluster * dModel, 1);
  const hidden = gaussian(random, nToken * dModel, spread);
  for (let t = 0; t < nToken; t++) {
    const c = Math.floor(random() * nCluster);
    for (let i = 0; i < dModel; i++) hidden[t * dModel + i] += centres[c * dModel + i];
  }
  return hidden;
}
