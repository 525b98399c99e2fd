// The self router's logits (Self-Routing, arXiv 2604.00421): a slice of the hidden state itself,
// z[t, e] = hidden[t, offset + e] / temperature. No router parameters.

/**
 * @param hidden [nToken, dModel]
 * @param out    [nToken, nExpert]
 */
export function selfLogits(hidden: usize, out: usize, nToken: i32, dModel: i32, nExpert: i32, offset: i32, temperature: f64): void {
  for (let t = 0; t < nToken; t++) {
    const h = hidden + ((<usize>t * <usize>dModel + <usize>offset) << 2);
    const o = out + (<usize>t * <usize>nExpert << 2);
    // Divided in f64 then rounded, as the reference's `hidden / temperature` into a Float32Array.
    for (let e = 0; e < nExpert; e++) store<f32>(o + (<usize>e << 2), <f32>(<f64>load<f32>(h + (<usize>e << 2)) / temperature));
  }
}
