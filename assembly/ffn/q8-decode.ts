// Single-row (decode) int8 kernel with integer dot products. Widening every int8 weight to f32 costs
// ~4 instructions per 4 weights, which leaves int8 no faster than f32 from cache; here the row x is
// rounded once to 16-bit integers per block of Q8_BLOCK inputs (scale sx = amax / 32767, error ≤ sx / 2
// — 2⁻¹⁶ of the block's largest |x|, ~250× below the int8 weights' own rounding), and i32x4.dot_i16x8_s
// does 8 multiply-adds per instruction on pairs of consecutive k:
//   y_c = Σ_blocks sw[b][c] · sx[b] · Σ_{k in b} q[k][c] · xq[k]
// Bounds: |xq| ≤ 32767, |q| ≤ 127, 32 terms per block: |Σ| ≤ 1.4e8 < 2³¹, and below 2²⁷ its conversion
// to f32 rounds by at most 2⁻²⁴ relative.
//   q8-row1x32: one row × four int8 panels at once (four weight streams, as tile.ts's row1x32), i32
//               block sums in registers, f32 sums in ACC (updated once per block).
import { ACC } from './tile';
import { Q8_BLOCK } from './weights';

/**
 * x [K] f32 → xq [K] i16 and sx [K / Q8_BLOCK] f32, per block of Q8_BLOCK. K % Q8_BLOCK == 0.
 */
export function quantizeRow(x: usize, K: i32, xq: usize, sx: usize): void {
  for (let b = 0; b < K; b += Q8_BLOCK) {
    const xb = x + (<usize>b << 2);
    let m = f32x4.splat(0);
    for (let i = 0; i < Q8_BLOCK; i += 4) m = f32x4.max(m, f32x4.abs(v128.load(xb + (<usize>i << 2))));
    const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const scale: f32 = amax / 32767;
    store<f32>(sx + (<usize>(b / Q8_BLOCK) << 2), scale);
    const inv = f32x4.splat(amax > 0 ? 1 / scale : 0);
    const out = xq + (<usize>b << 1);
    for (let i = 0; i < Q8_BLOCK; i += 8) {
      const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>i << 2)), inv)));
      const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb + (<usize>i << 2), 16), inv)));
      v128.store(out + (<usize>i << 1), i16x8.narrow_i32x4_s(lo, hi));
    }
  }
}

/** Interleaves two steps of K of one panel (k: c0..c7, k+1: c0..c7) into pairs (c0 k, c0 k+1, c1 k, …). */
// @ts-ignore: decorator
@inline function pairs(p: usize): v128 {
  const v = v128.load(p);
  return i8x16.shuffle(v, v, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** ACC[2i], ACC[2i+1] += (lo, hi) · (scales of panel i at this block) · sx. */
// @ts-ignore: decorator
@inline function flush(i: usize, lo: v128, hi: v128, s: usize, sxb: v128): void {
  const a = ACC + (i << 5);
  v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f32x4.convert_i32x4_s(lo), f32x4.mul(v128.load(s), sxb))));
  v128.store(a, f32x4.add(v128.load(a, 16), f32x4.mul(f32x4.convert_i32x4_s(hi), f32x4.mul(v128.load(s, 16), sxb))), 16);
}

/**
 * @param xq, sx     the row from quantizeRow
 * @param panel      the first of four consecutive int8 panels [K][8], panelBytes apart
 * @param scales     its [K / Q8_BLOCK][8] f32; the next panels' follow scaleBytes apart
 * @param bias       [4][8], or 0
 */
export function q8Row1x32(xq: usize, sx: usize, panel: usize, panelBytes: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  if (bias) memory.copy(ACC, bias, 128);
  else memory.fill(ACC, 0, 128);
  let p0 = panel;
  let p1 = p0 + panelBytes;
  let p2 = p1 + panelBytes;
  let p3 = p2 + panelBytes;
  let s = scales;
  for (let b = 0; b < K; b += Q8_BLOCK) {
    let l0 = i32x4.splat(0), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
    const end = xq + (<usize>(b + Q8_BLOCK) << 1);
    for (let x = xq + (<usize>b << 1); x < end; x += 4) {
      const xp = v128.load32_splat(x);
      let w = pairs(p0);
      l0 = i32x4.add(l0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xp));
      h0 = i32x4.add(h0, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xp));
      w = pairs(p1);
      l1 = i32x4.add(l1, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xp));
      h1 = i32x4.add(h1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xp));
      w = pairs(p2);
      l2 = i32x4.add(l2, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xp));
      h2 = i32x4.add(h2, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xp));
      w = pairs(p3);
      l3 = i32x4.add(l3, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xp));
      h3 = i32x4.add(h3, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xp));
      p0 += 16; p1 += 16; p2 += 16; p3 += 16;
    }
    const sxb = v128.load32_splat(sx + (<usize>(b / Q8_BLOCK) << 2));
    flush(0, l0, h0, s, sxb);
    flush(1, l1, h1, s + scaleBytes, sxb);
    flush(2, l2, h2, s + 2 * scaleBytes, sxb);
    flush(3, l3, h3, s + 3 * scaleBytes, sxb);
    s += 32;
  }
}
