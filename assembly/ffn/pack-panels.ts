// Expert weights into the kernels' panels at load time ([nPanel][K][8] f32, layout.ts): the host copies a
// run of a projection's rows into memory and these transpose them, four steps of four rows per shuffle.
// In TypeScript the same packing took ~2.5 ns a weight (2 s of a GPT-OSS-20B layer's load); here it runs
// chunk by chunk, so for f16 and int8 the panels are still in cache when convert.ts reads them.
import { transposeStoreStrided } from './pack';

/**
 * Panels p = 0 .. nPanel−1, [K][8] f32 each, at dst: column c (0..3) of panel p is row p·rowStep + c of lo,
 * column 4 + c row p·rowStep + c of hi (lo, hi: row-major [*, len] f32). Rows at or past nLo (of lo) or
 * nHi (of hi) and steps len .. K−1 are zeros. Returns the largest |w| packed: the host's range check for
 * f16 and int8, without a second pass over the weights.
 */
export function packPanels(lo: usize, nLo: i32, hi: usize, nHi: i32, rowStep: i32, nPanel: i32, len: i32, K: i32, dst: usize): f32 {
  const rowBytes = <usize>len << 2;
  const whole = len & ~3;
  let m = f32x4.splat(0);
  let mTail: f32 = 0;
  for (let p = 0; p < nPanel; p++) {
    const r = p * rowStep;
    const out = dst + <usize>p * <usize>K * 32;
    const l0 = rowAt(lo, nLo, r, rowBytes), l1 = rowAt(lo, nLo, r + 1, rowBytes);
    const l2 = rowAt(lo, nLo, r + 2, rowBytes), l3 = rowAt(lo, nLo, r + 3, rowBytes);
    const h0 = rowAt(hi, nHi, r, rowBytes), h1 = rowAt(hi, nHi, r + 1, rowBytes);
    const h2 = rowAt(hi, nHi, r + 2, rowBytes), h3 = rowAt(hi, nHi, r + 3, rowBytes);
    for (let k = 0; k < whole; k += 4) {
      const at = <usize>k << 2;
      const a0 = rowLoad(l0, at), a1 = rowLoad(l1, at), a2 = rowLoad(l2, at), a3 = rowLoad(l3, at);
      const b0 = rowLoad(h0, at), b1 = rowLoad(h1, at), b2 = rowLoad(h2, at), b3 = rowLoad(h3, at);
      // pmax, not max: the weights are finite, and V8 spends several instructions on max's NaN rules.
      m = f32x4.pmax(m, f32x4.pmax(f32x4.pmax(f32x4.abs(a0), f32x4.abs(a1)), f32x4.pmax(f32x4.abs(a2), f32x4.abs(a3))));
      m = f32x4.pmax(m, f32x4.pmax(f32x4.pmax(f32x4.abs(b0), f32x4.abs(b1)), f32x4.pmax(f32x4.abs(b2), f32x4.abs(b3))));
      const o = out + (at << 3);
      // Four steps of four columns, one panel step (32 bytes) apart.
      transposeStoreStrided(a0, a1, a2, a3, o, 32);
      transposeStoreStrided(b0, b1, b2, b3, o + 16, 32);
    }
    for (let k = whole; k < len; k++) {
      const at = <usize>k << 2;
      const o = out + (at << 3);
      mTail = max(mTail, max(max(tailStep(l0, at, o), tailStep(l1, at, o + 4)), max(tailStep(l2, at, o + 8), tailStep(l3, at, o + 12))));
      mTail = max(mTail, max(max(tailStep(h0, at, o + 16), tailStep(h1, at, o + 20)), max(tailStep(h2, at, o + 24), tailStep(h3, at, o + 28))));
    }
    const zero = f32x4.splat(0);
    for (let k = len; k < K; k++) {
      const o = out + (<usize>k << 5);
      v128.store(o, zero);
      v128.store(o, zero, 16);
    }
  }
  return max(max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3))), mTail);
}

/** Row r of a [*, len] matrix at base, or 0 (a zero row) at or past n. */
// @ts-ignore: decorator
@inline function rowAt(base: usize, n: i32, r: i32, rowBytes: usize): usize {
  return r < n ? base + <usize>r * rowBytes : 0;
}

// @ts-ignore: decorator
@inline function rowLoad(row: usize, at: usize): v128 {
  return row ? v128.load(row + at) : f32x4.splat(0);
}

/** One step of one row (0 for a zero row) stored at o; returns its |w|. (No arrays here: the module has no allocator.) */
// @ts-ignore: decorator
@inline function tailStep(row: usize, at: usize, o: usize): f32 {
  const v: f32 = row ? load<f32>(row + at) : 0;
  store<f32>(o, v);
  return abs(v);
}
