// The expert activations in f64, the oracle's side of ExpertWeights' definition (ts/backends/backend.ts).
import type { Activation } from '../spec/types.js';

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/**
 * erf in f64: its Maclaurin series below 2.5 and the erfc continued fraction above, both to ~1e-15 —
 * far below the f32 tolerances the fast paths are held to (JavaScript has no Math.erf).
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a;
    let sum = a;
    const a2 = a * a;
    for (let n = 1; n < 60; n++) {
      term *= -a2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction (Lentz), converges fast for |x| ≥ 2.5.
  let f = a;
  let c = a;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = a + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = a + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
}

/** gelu(x) = x·Φ(x), the exact (erf) form of Hugging Face's "gelu". */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** h for one hidden unit from its gate and up pre-activations (gate unused by ungated activations). */
export function activate(activation: Activation, g: number, u: number, alpha: number, limit: number): number {
  switch (activation) {
    case 'swiglu': return silu(g) * u;
    case 'geglu': return gelu(g) * u;
    case 'swiglu-oai': {
      const gc = Math.min(g, limit);
      const uc = Math.min(Math.max(u, -limit), limit);
      return (uc + 1) * gc / (1 + Math.exp(-alpha * gc));
    }
    case 'gelu': return gelu(u);
    case 'relu': return Math.max(u, 0);
    case 'silu': return silu(u);
  }
}
