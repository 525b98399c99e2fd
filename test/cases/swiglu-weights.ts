// Router and SwiGLU expert weights of a small random block, drawn in one fixed order (router, gate, up, down),
// for the cases that need a block and nothing particular about its weights.
import { normal } from './rng.js';

export function swigluWeights(random: () => number, { E, d, f }: { E: number; d: number; f: number }): Record<string, Float32Array> {
  return {
    'router.weight': normal(random, E * d, 0.5),
    'experts.gate': normal(random, E * f * d, 0.3),
    'experts.up': normal(random, E * f * d, 0.3),
    'experts.down': normal(random, E * d * f, 0.3),
  };
}
