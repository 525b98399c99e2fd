// Softmax top-k on logits whose f32 probabilities tie or underflow while the logits do not: every path
// picks the experts the reference picks. The GPU kernel once ranked by its f32 probs, so logits a few ulp
// apart (rounded to one prob) or ~100 apart (probs underflowing to 0) went to other experts than on the
// CPU paths, which rank by f64 probs — the logits' own order, as the kernel now ranks.
import { expectExact } from './compare.js';
import type { CaseContext, ConformanceCase } from './types.js';

const E = 8;
const k = 3;

/** Token t: logits base_t + i·ulp for expert (i·3 + t) mod E, so the order differs per token. */
function ulpLadder(T: number): Float32Array {
  const logits = new Float32Array(T * E);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let t = 0; t < T; t++) {
    f[0] = [0.3, 0.001, 1, 37.5][t % 4];
    for (let i = 0; i < E; i++) {
      logits[t * E + ((i * 3 + t) % E)] = f[0];
      bits[0]++;
    }
  }
  return logits;
}

async function run(ctx: CaseContext): Promise<void> {
  const spread = Float32Array.of(-120, 100, -60, -30, -1000, 90, -1e30, 5, -100, 100, -50, 0, 0, 0, 0, 1);
  // Logits within 1e-17 of each other: every f64 prob rounds to one value, so the reference ranks by index.
  const tiny = Float32Array.from({ length: 2 * E }, (_, i) => ((i * 5) % E) * 1e-30 - (i >= E ? 3e-25 : 0));
  for (const [name, logits] of [['1-ulp ladders', ulpLadder(64)], ['spreads past f32 underflow', spread], ['near-zero logits', tiny]] as const) {
    for (const normalize of [false, true]) {
      const spec = { kind: 'topk' as const, numExperts: E, topK: k, normalize };
      const T = logits.length / E;
      const want = await ctx.api.route(spec, { tokens: T, logits }, { backend: 'reference' });
      const got = await ctx.api.route(spec, { tokens: T, logits }, { backend: ctx.backend });
      expectExact(`${name}, normalize ${normalize}: indices`, got.indices, want.indices);
    }
  }
}

export const routeNearTieCases: ConformanceCase[] = [{
  name: 'route topk softmax: logits whose f32 probs tie or underflow pick the reference\'s experts',
  backends: ['wasm', 'webgpu'],
  run,
}];
