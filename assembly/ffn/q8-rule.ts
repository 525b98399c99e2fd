// The int8 rule of ts/formats/q8.ts in the module: a block's f16 scale and two weights' values, shared by
// the load-time converters of both weight layouts (convert.ts, convert-rows.ts).
import { decodeF16, encodeF16 } from './f16-bits';

/**
 * A block's scale from its amax: amax / 127 in f64 rounded to f32, then to f16, as the host computes
 * it (q8.ts q8Scale). Its f16 bits go to `to`; its value is returned. (Kept in registers, not in module data:
 * a worker instantiated over the shared memory while the host converts would re-apply the data segments.)
 */
// @ts-ignore: decorator
@inline export function blockScale(amax: f32, to: usize): f64 {
  const bits = encodeF16(<f32>(<f64>amax / 127.0));
  store<u16>(to, <u16>bits);
  return decodeF16(bits);
}

/**
 * Two weights (f64 lanes) by their scales: w / scale rounded half away from zero, clamped to ±127, in i32
 * lanes 0 and 1; 0 where the scale is 0 (an all-zero block, or one whose scale underflows f16) — q8.ts
 * q8Value. The rounding is Math.round's: floor, then up when the fraction is at least one half (a − floor(a)
 * is exact).
 */
// @ts-ignore: decorator
@inline export function q8Pair(w: v128, scale: v128): v128 {
  const v = f64x2.div(w, scale);
  const a = f64x2.abs(v);
  let r = f64x2.floor(a);
  r = f64x2.add(r, v128.and(f64x2.ge(f64x2.sub(a, r), f64x2.splat(0.5)), f64x2.splat(1)));
  r = f64x2.min(r, f64x2.splat(127));
  // v's sign onto r (≥ 0), then no lane at all where the scale is 0 (w / 0 is ±∞ or NaN there).
  r = v128.or(r, v128.and(v, f64x2.splat(-0.0)));
  r = v128.andnot(r, f64x2.eq(scale, f64x2.splat(0)));
  return i32x4.trunc_sat_f64x2_s_zero(r);
}
