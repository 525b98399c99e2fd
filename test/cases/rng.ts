// Seeded generators for the case registry: every case is reproducible from the seed in its name. They are
// the demo's (mulberry32 uniforms, Box–Muller normals), so a case and the demo draw the same streams.
import { gaussian, seededRandom } from '../../ts/demo/synthetic.js';

/** Uniform in [0, 1) from a 32-bit seed. */
export const rng: (seed: number) => () => number = seededRandom;

/** Standard normal draws, scaled by `std`. */
export function normal(random: () => number, n: number, std = 1): Float32Array {
  return gaussian(random, n, std);
}
