// Comparisons with named tolerances; a failure says where, by how much, and against what bound.
import { CaseFailure } from './types.js';

export interface Tolerance {
  abs: number;
  rel: number;
}

/** Elementwise |got − want| ≤ abs + rel·|want| (the goldens' rule). */
export function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): void {
  if (got.length !== want.length) throw new CaseFailure(`${what}: length ${got.length}, expected ${want.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const bound = tol.abs + tol.rel * Math.abs(want[i]);
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= bound) && (worst < 0 || err - bound > worstExcess)) {
      worst = i;
      worstExcess = err - bound;
    }
  }
  if (worst >= 0) {
    throw new CaseFailure(`${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (abs ${tol.abs}, rel ${tol.rel})`);
  }
}

/** max|got − want| / max(‖want‖∞, floor): for matmul outputs, judged against the size of the result. */
export function expectRelativeToNorm(what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: number, floor = 1e-6): void {
  if (got.length !== want.length) throw new CaseFailure(`${what}: length ${got.length}, expected ${want.length}`);
  let norm = floor;
  for (let i = 0; i < want.length; i++) norm = Math.max(norm, Math.abs(want[i]));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= worst) || Number.isNaN(err)) {
      worst = Number.isNaN(err) ? Infinity : err;
      at = i;
    }
  }
  if (worst / norm > bound) {
    throw new CaseFailure(`${what}: max error ${worst} at element ${at} is ${worst / norm} of the output's norm ${norm}, bound ${bound}`);
  }
}

export function expectExact(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  if (got.length !== want.length) throw new CaseFailure(`${what}: length ${got.length}, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new CaseFailure(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

export function expectScalar(what: string, got: number, want: number, tol: Tolerance): void {
  expectClose(what, [got], [want], tol);
}
