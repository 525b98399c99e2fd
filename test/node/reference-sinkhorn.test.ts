// The reference Sinkhorn against Megatron-Core's matrix (goldens), its balance property, and its
// robustness where Megatron's own loop overflows or spins: huge and −∞ logits, capped iterations.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../ts/formats/safetensors.js';
import { sinkhorn } from '../../ts/reference/routers/sinkhorn.js';
import { normal, rng } from '../cases/rng.js';
import { GOLDENS_DIR } from './goldens-dir.js';

/** The goldens' tolerance for Sinkhorn matrices (the f32 loop may stop one iteration apart). */
const MATRIX_TOLERANCE = { abs: 1e-6, rel: 1e-4 };
/** The last step scales columns, so they sum to (1/E)·x/(x + ε) with ε = 1e-8: 1/E to ~1e-7 relative. */
const COLUMN_TOLERANCE = 1e-6;
/** Rows sum to 1/T after the loop; seen ≤ 3e-7 relative on these problems, bound with margin. */
const ROW_TOLERANCE = 1e-5;

function f32(file: ReturnType<typeof readSafetensors>, name: string): Float32Array {
  const t = file.tensors.get(name)!;
  return new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
}

describe('reference sinkhorn', () => {
  for (const name of ['megatron_sinkhorn_top1', 'megatron_sinkhorn_top2']) {
    it(`matches Megatron-Core's sinkhorn matrix (${name})`, () => {
      const file = readSafetensors(readFileSync(new URL(`${name}/tensors.safetensors`, GOLDENS_DIR)));
      const logits = f32(file, 'input.logits');
      const want = f32(file, 'expected.sinkhorn');
      const { plan, iterations } = sinkhorn(logits, 32, 8, 1e-4, 200);
      expect(iterations).toBeGreaterThan(0);
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(plan[i] - want[i])).toBeLessThanOrEqual(MATRIX_TOLERANCE.abs + MATRIX_TOLERANCE.rel * Math.abs(want[i]));
      }
    });
  }

  it('balances columns to 1/E and rows near 1/T on seeded logits', () => {
    for (let seed = 0; seed < 50; seed++) {
      const random = rng(seed);
      const T = 1 + Math.floor(random() * 60);
      const E = 1 + Math.floor(random() * 16);
      // d0·a, d1/a is a free scale the ε terms pin only loosely, so mean|Δd1| may stall near 1e-7 while the
      // plan itself is balanced: check the plan, not the stopping criterion.
      const { plan } = sinkhorn(normal(random, T * E, 1), T, E, 1e-7, 2_000);
      for (let e = 0; e < E; e++) {
        let col = 0;
        for (let t = 0; t < T; t++) col += plan[t * E + e];
        expect(Math.abs(col - 1 / E)).toBeLessThanOrEqual(COLUMN_TOLERANCE / E);
      }
      for (let t = 0; t < T; t++) {
        let row = 0;
        for (let e = 0; e < E; e++) row += plan[t * E + e];
        expect(Math.abs(row - 1 / T)).toBeLessThanOrEqual(ROW_TOLERANCE / T);
      }
    }
  });

  it('stays finite on huge, tiny and −∞ logits and stops at maxIterations', () => {
    const logits = Float32Array.of(1e30, -1e30, 0, 3e38, -3e38, 5, -Infinity, -Infinity, -Infinity, 88, 89, 1000);
    const { plan, iterations } = sinkhorn(logits, 4, 3, 0, 37);
    expect(iterations).toBe(37);
    for (const v of plan) expect(Number.isFinite(v)).toBe(true);
  });
});
