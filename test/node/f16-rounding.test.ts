// The library's binary16 conversion (ts/formats/dtype.ts), which f16 weights and int8 scales go through,
// against the test oracle's (test/cases/weight-formats.ts), written from the definition: equal on every f32
// value tried — normals, subnormals, exact ties, overflow.
import { describe, expect, it } from 'vitest';
import { decodeF16, encodeF16 } from '../../ts/formats/dtype.js';
import { q8Scale, q8Value } from '../../ts/formats/q8.js';
import { int8RoundTrip, roundF16 } from '../cases/weight-formats.js';
import { rng } from '../cases/rng.js';

const library = (x: number) => decodeF16(encodeF16(x));

describe('f16 rounding', () => {
  it('agrees with the oracle on 200k random f32 values over the whole range', () => {
    const random = rng(11);
    for (let i = 0; i < 200_000; i++) {
      const x = Math.fround((random() < 0.5 ? -1 : 1) * 2 ** (-30 + 48 * random()) * (1 + random()));
      if (library(x) !== roundF16(x)) expect([x, library(x)]).toEqual([x, roundF16(x)]);
    }
  });

  it('agrees on ties, subnormals and the overflow edge', () => {
    const xs = [2 ** -25, 3 * 2 ** -26, 2 ** -24, 1.5 * 2 ** -24, 2 ** -14 - 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
      2048 + 1, 2048 + 3, 65504, 65519, 65520, 1e6];
    for (const x of xs.flatMap((v) => [v, -v])) expect([x, library(x)]).toEqual([x, roundF16(x)]);
  });
});

describe('int8 blocks', () => {
  /** The library's dequantized block (ts/formats/q8.ts), as both paths store it. */
  const libraryBlock = (block: Float32Array) => {
    let amax = 0;
    for (const w of block) amax = Math.max(amax, Math.abs(w));
    const scale = q8Scale(amax);
    return Float32Array.from(block, (w) => q8Value(w, scale) * scale);
  };

  it('agree with the oracle on random blocks, and at exact ties (rounded away from zero, so -w gives -q)', () => {
    const random = rng(12);
    for (let trial = 0; trial < 2000; trial++) {
      const block = Float32Array.from({ length: 32 }, () => (random() - 0.5) * 2 ** (-20 + 40 * random()));
      expect(libraryBlock(block)).toEqual(int8RoundTrip(block, 32));
    }
    // amax 127 gives scale 1: every k + 0.5 is an exact tie.
    const ties = Float32Array.from({ length: 32 }, (_, i) => (i === 0 ? 127 : (i % 2 ? 1 : -1) * (i + 0.5)));
    const got = libraryBlock(ties);
    expect(got).toEqual(int8RoundTrip(ties, 32));
    expect(got[1]).toBe(2);
    expect(got[2]).toBe(-3);
    const mirrored = libraryBlock(ties.map((w) => -w));
    expect(mirrored).toEqual(got.map((w) => -w));
  });
});
