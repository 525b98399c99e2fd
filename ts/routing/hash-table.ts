// balancedHashTable(): the public, validated entry to Roller's balanced assignment.
import { SwitchyardError, describe } from '../errors.js';
import { positiveInteger } from '../spec/check.js';
import { MAX_EXPERTS } from '../spec/router-spec.js';
import { balancedHashTable as build } from '../reference/routers/hash.js';

/**
 * Builds a hash-routing table [vocab, k] from token frequencies: most frequent token first, each of its
 * k slots to the least-loaded expert (Roller et al. 2021, balanced assignment).
 *
 * @example
 * const table = balancedHashTable(tokenCounts, 64, 1);
 * const r = await route({ kind: 'hash', numExperts: 64, topK: 1, table }, { tokens: T, tokenIds });
 */
export function balancedHashTable(frequencies: ArrayLike<number>, numExperts: number, topK: number): Int32Array {
  const E = positiveInteger(numExperts, 'numExperts');
  if (E > MAX_EXPERTS) throw new SwitchyardError('range', 'numExperts', `expected at most ${MAX_EXPERTS} experts, received ${E}`);
  const k = positiveInteger(topK, 'topK');
  if (k > E) throw new SwitchyardError('range', 'topK', `expected 1 ≤ topK ≤ numExperts = ${E}, received ${k}`);
  if (frequencies === null || typeof frequencies !== 'object' || typeof frequencies.length !== 'number' || frequencies.length === 0) {
    throw new SwitchyardError('shape', 'frequencies', `expected one count per token id, received ${describe(frequencies)}`);
  }
  for (let v = 0; v < frequencies.length; v++) {
    const f = frequencies[v];
    if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) {
      throw new SwitchyardError('range', 'frequencies', `expected finite non-negative counts, received ${describe(f)} at token ${v}`);
    }
  }
  return build(frequencies, E, k);
}
