// The library's binary16 conversion (ts/formats/dtype.ts), which f16 weights and int8 scales go through,
// against the test oracle's (test/cases/weight-formats.ts), written from the definition: equal on every f32
// value tried — normals, subnormals, exact ties, overflow.
import { describe, expect, it } from 'vitest';
import { decodeF16, encodeF16 } from '../../ts/formats/dtype.js';
import { roundF16 } from '../cases/weight-formats.js';
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
