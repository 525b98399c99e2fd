// The int8 rule of ts/formats/q8.ts in the module: a block's f16 scale and four weights' values, shared by
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
 * Four weights (f32 lanes) by their scales (per lane): w / scale rounded half away from zero, clamped to
 * ±127, as i32 lanes; 0 where the scale is 0 (an all-zero block, or one whose scale underflows f16) — q8.ts
 * q8Value, which divides in f64. Here no division: `inv` is 1 / scale in f32, per block. |w| · inv is
 * within ~2^-22 of |w| / scale relative (≤ 127.1 here), so its floor t is floor(|w| / scale), or one off
 * where |w| / scale is that close to an integer; then |w| ≥ (t + 0.5) · scale decides the rounding exactly
 * (t + 0.5 has ≤ 9 significant bits and a f16 scale 11, so the product is exact in f32, and so is |w|):
 * Math.round's answer in every case, exact ties included, four lanes to an instruction. The clamp is pmax /
 * pmin (the weights are finite), the integer leaves through q + 1.5 · 2^23: V8 spends several instructions
 * on f32x4.min's NaN rules and on trunc_sat.
 */
// @ts-ignore: decorator
@inline export function q8Quad(w: v128, scale: v128, inv: v128): v128 {
  const a = f32x4.abs(w);
  const t = f32x4.floor(f32x4.mul(a, inv));
  let r = f32x4.add(t, v128.and(f32x4.ge(a, f32x4.mul(f32x4.add(t, f32x4.splat(0.5)), scale)), f32x4.splat(1)));
  r = f32x4.pmin(r, f32x4.splat(127));
  // w's sign onto r (≥ 0; the scale is positive), then no lane at all where the scale is 0 (inv is ∞ there).
  r = v128.or(r, v128.and(w, f32x4.splat(-0.0)));
  r = v128.andnot(r, f32x4.eq(scale, f32x4.splat(0)));
  return i32x4.sub(f32x4.add(r, f32x4.splat(12582912.0)), i32x4.splat(0x4b400000));
}

/** 1 / scale in every f32 lane (∞ for a zero scale, which q8Quad masks). */
// @ts-ignore: decorator
@inline export function reciprocal(scale: v128): v128 {
  return f32x4.div(f32x4.splat(1), scale);
}
