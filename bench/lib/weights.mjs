// Random weights for the benches.

/** Uniform weights of a given standard deviation (faster to draw than normals, and as good for timing). */
export function uniform(random, n, std) {
  const a = std * Math.sqrt(3);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * random() - 1) * a;
  return out;
}
