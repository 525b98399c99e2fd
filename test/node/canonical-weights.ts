// Test helper: a layer's canonical weights from huggingFaceToCanonical against those of the same layer given as
// plain f32 tensors. A deferred projection (MXFP4 or FP8 bytes, read when a path needs them) must give the same
// values whole and by runs of rows, written at even and odd places of an array, touching nothing around them.
import { expect } from 'vitest';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import type { WeightSource } from '../../ts/spec/moe-config.js';

export function expectCanonical(got: WeightSource, want: WeightSource): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const name of Object.keys(want)) {
    const t = got[name];
    if (!(t instanceof DeferredTensor)) {
      expect(t, name).toEqual(want[name]);
      continue;
    }
    const whole = want[name] as Float32Array;
    expect(t.values(), name).toEqual(whole);
    for (const [r0, r1, at] of [[0, 1, 0], [1, 3, 1], [t.rows - 2, t.rows, 6]]) {
      const out = new Float32Array(at + (r1 - r0) * t.cols + 2).fill(7);
      t.read(r0, r1, out, at);
      expect(out.subarray(at, at + (r1 - r0) * t.cols), `${name} rows ${r0}..${r1} at ${at}`).toEqual(whole.subarray(r0 * t.cols, r1 * t.cols));
      expect([out[at - 1] ?? 7, out[at + (r1 - r0) * t.cols]]).toEqual([7, 7]);
    }
  }
}
