// Small argument checks shared by every validator; each names the argument, the expectation and what came.
import { SwitchyardError, describe } from '../errors.js';

export function positiveInteger(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SwitchyardError('range', argument, `expected a positive integer, received ${describe(value)}`);
  }
  return value;
}

export function finiteNumber(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SwitchyardError('range', argument, `expected a finite number, received ${describe(value)}`);
  }
  return value;
}

export function booleanFlag(value: unknown, argument: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new SwitchyardError('config', argument, `expected true or false, received ${describe(value)}`);
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], argument: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new SwitchyardError('config', argument, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, received ${describe(value)}`);
  }
  return value as T;
}

/** A Float32Array of exactly `length` elements ([shape] says what it holds). */
export function float32Array(value: unknown, length: number, shape: string, argument: string): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new SwitchyardError('dtype', argument, `expected a Float32Array ${shape}, received ${describe(value)}`);
  }
  if (value.length !== length) {
    throw new SwitchyardError('shape', argument, `expected ${shape} = ${length} elements, received ${value.length}`);
  }
  return value;
}

/** Rejects NaN and ±∞: they would otherwise spread silently through softmax and the experts. */
export function allFinite(values: Float32Array, argument: string, shape: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new SwitchyardError('range', argument, `expected finite values ${shape}, received ${values[i]} at element ${i}`);
    }
  }
}

/**
 * Rejects a result computed from finite inputs that overflowed f32 (hidden states near 1e30 through a
 * matmul, say): returned, it would be the silent ±∞ / NaN that allFinite keeps out of the inputs. One f64
 * sum finds it (no sum of f32 values overflows f64); only then is the element looked up.
 * @param rowLength  values per row, to name the row (token) and column of the first non-finite value
 */
export function finiteResult(values: Float32Array, rowLength: number, argument: string, what: string): void {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  if (Number.isFinite(sum)) return;
  const i = values.findIndex((v) => !Number.isFinite(v));
  throw new SwitchyardError('range', argument,
    `expected values small enough that ${what} stays finite in f32; it reaches ${values[i]} at token ${Math.floor(i / rowLength)}, column ${i % rowLength}`);
}
