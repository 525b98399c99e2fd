// Expert choice (Zhou et al. 2022; flaxformer ExpertsChooseMaskedRouter): s = softmax(z) over experts;
// every expert takes its top C tokens by s; a token's weights are its s at the experts that took it.

/** Python's round(): halves go to the even neighbour, as flaxformer's int(round(c·T/E)) does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** C = clamp(max(round(c·T/E), minCapacity), ≤ T). */
export function expertChoiceCapacity(capacityFactor: number, minCapacity: number, nToken: number, nExpert: number): number {
  return Math.min(Math.max(roundHalfEven((capacityFactor * nToken) / nExpert), minCapacity), nToken);
}

/** Returns indices/weights [nToken, nExpert]: per token the experts that chose it, best first, then −1. */
export function expertChoice(
  scores: Float64Array, // [nToken, nExpert] softmax
  nToken: number,
  nExpert: number,
  capacity: number,
): { indices: Int32Array; weights: Float32Array } {
  // Ranked by s rounded to f32, the weights (and probs) a caller sees: scores equal there tie, and the lower
  // token wins. In f64 two tokens whose softmax is mathematically equal (rows that permute the same logits)
  // can differ in the last bits, with the order each row's sum ran in, and that noise would pick the token.
  const key = Float32Array.from(scores);
  const chosen: number[][] = Array.from({ length: nToken }, () => []);
  const order = Array.from({ length: nToken }, (_, t) => t);
  for (let e = 0; e < nExpert; e++) {
    order.sort((a, b) => key[b * nExpert + e] - key[a * nExpert + e] || a - b);
    for (let i = 0; i < capacity; i++) chosen[order[i]].push(e);
  }
  const indices = new Int32Array(nToken * nExpert).fill(-1);
  const weights = new Float32Array(nToken * nExpert);
  for (let t = 0; t < nToken; t++) {
    const row = chosen[t].sort((a, b) => key[t * nExpert + b] - key[t * nExpert + a] || a - b);
    row.forEach((e, j) => {
      indices[t * nExpert + j] = e;
      weights[t * nExpert + j] = key[t * nExpert + e];
    });
  }
  return { indices, weights };
}
