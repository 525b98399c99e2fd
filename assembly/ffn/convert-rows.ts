// Expert weights converted to the WebGPU path's storage layouts at load time, when the host has this module:
// the same bits as the TypeScript writers (ts/backends/webgpu-q8.ts packQ8Rows, dtype.ts f32ToF16), which
// spent ~28 and ~10 ns a weight — seconds per layer of a large checkpoint, on top of the WASM path's own
// conversion when `backend: 'auto'` binds both.
//   f16:  n values, round to nearest even, in order.
//   int8: rows already padded with zeros to whole block pairs, so the rows are one run of pairs: each pair,
//         64 weights, becomes 17 u32 words — the two blocks' f16 scales (the even block's in the low half),
//         then the 64 values as int8, the lowest k in the lowest byte.
import { halves } from './f16-bits';
import { blockScale, q8Quad, reciprocal } from './q8-rule';

/** n finite f32 at src (n % 8 == 0) → binary16 bits at dst. Returns the largest |w| (the host's range check). */
export function convertF16Values(src: usize, n: i32, dst: usize): f32 {
  let m = f32x4.splat(0);
  for (let i = 0; i < n; i += 8) {
    const from = src + (<usize>i << 2);
    const lo = v128.load(from);
    const hi = v128.load(from, 16);
    m = f32x4.pmax(m, f32x4.pmax(f32x4.abs(lo), f32x4.abs(hi)));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(halves(lo), halves(hi)));
  }
  return laneMax(m);
}

/** nPair block pairs of 64 finite f32 at src → nPair × 17 words at dst (the layout above). Returns the largest |w|. */
export function quantizeQ8Pairs(src: usize, nPair: i32, dst: usize): f32 {
  let m: f32 = 0;
  for (let p = 0; p < nPair; p++) {
    const from = src + (<usize>p << 8);
    const to = dst + <usize>p * 68;
    m = max(m, max(quantizeBlock(from, to, to + 4), quantizeBlock(from + 128, to + 2, to + 36)));
  }
  return m;
}

/** 32 weights at from → their f16 scale's bits at scaleAt, their 32 int8 values at q; returns their amax. */
// @ts-ignore: decorator
@inline function quantizeBlock(from: usize, scaleAt: usize, q: usize): f32 {
  let m = f32x4.splat(0);
  for (let i = 0; i < 8; i++) m = f32x4.pmax(m, f32x4.abs(v128.load(from + (<usize>i << 4))));
  const amax = laneMax(m);
  const scale = f32x4.splat(<f32>blockScale(amax, scaleAt));
  const inv = reciprocal(scale);
  for (let half = 0; half < 2; half++) {
    const at = from + (<usize>half << 6);
    const a = q8Quad(v128.load(at), scale, inv);
    const b = q8Quad(v128.load(at, 16), scale, inv);
    const c = q8Quad(v128.load(at, 32), scale, inv);
    const d = q8Quad(v128.load(at, 48), scale, inv);
    v128.store(q + (<usize>half << 4), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
  }
  return amax;
}

// @ts-ignore: decorator
@inline function laneMax(m: v128): f32 {
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

