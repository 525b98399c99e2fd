// Expert weights converted to the f16 and int8 layouts of weights.ts at load time, from packed f32 panels
// [nPanel][K][8] (layout.ts): the same bits as the TypeScript writers of these layouts (test/node/
// wasm-layouts.ts, the reference wasm-convert.test.ts compares with; ts/formats/q8.ts holds the int8 rule),
// in a fraction of the time: in TypeScript int8 took ~17 ns a weight and f16 ~10 (a GPT-OSS-20B layer's
// int8 load spent 23 s there), here 2.3 and 0.6.
//   f16:  round to nearest even; whole groups of four panels interleaved step by step, [K][4][8].
//   int8: per 32 steps of one column, scale = f16(amax / 127 in f32); q = w / scale rounded half away from
//         zero, clamped to ±127; pairs of steps [K / 2][8][2], whole groups of four panels interleaved pair
//         by pair, [K / 2][4][8][2]; scales [nPanel][K / 32][8] as f16 bits.
import { Q8_BLOCK } from './weights';

const PANEL: i32 = 8;
const GROUP: i32 = 4;

/** f32 → binary16 bits, round to nearest even; ±inf past the range, NaN stays NaN (dtype.ts encodeF16). */
// @ts-ignore: decorator
@inline function encodeF16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >> 16) & 0x8000;
  const exponent = <i32>((b >> 23) & 0xff);
  const mantissa = b & 0x7fffff;
  if (exponent == 0xff) return mantissa ? sign | 0x7e00 | (mantissa >> 13) : sign | 0x7c00;
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (exponent == 0) return sign;
    const shift = 126 - exponent;
    if (shift >= 25) return sign;
    const m = mantissa | 0x800000;
    let q = m >> shift;
    const rest = m & ((1 << shift) - 1);
    const half: u32 = 1 << (shift - 1);
    if (rest > half || (rest == half && (q & 1) != 0)) q++;
    return sign | q;
  }
  let h = (<u32>e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++;
  return sign | h;
}

/** The value of finite binary16 bits (every one is exact in f64). */
// @ts-ignore: decorator
@inline function decodeF16(h: u32): f64 {
  const sign: f64 = (h & 0x8000) != 0 ? -1 : 1;
  const exponent = <i32>((h >> 10) & 0x1f);
  const mantissa = <f64>(h & 0x3ff);
  if (exponent == 0) return sign * mantissa * pow2(-24);
  return sign * (1024 + mantissa) * pow2(exponent - 25);
}

/** 2^e exactly, for the normal range of f64 (here −24 ≤ e ≤ 5). */
// @ts-ignore: decorator
@inline function pow2(e: i32): f64 {
  return reinterpret<f64>(<u64>(e + 1023) << 52);
}

/**
 * src f32 panels [nPanel][K][8] → binary16 bits at dst, every whole group of four panels interleaved step
 * by step, [K][4][8], the last nPanel % 4 panels as they are. Finite weights only (the host refuses the
 * others first): ±∞ and NaN would not keep encodeF16's payloads.
 */
export function convertF16(src: usize, nPanel: i32, K: i32, dst: usize): void {
  const whole = nPanel - (nPanel % GROUP);
  let i = src;
  for (let p = 0; p < nPanel; p++) {
    // Step k of panel p: in its group at step k, slot p % 4 — or, past the whole groups, where it is.
    const first = p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * PANEL : p * K * PANEL;
    const stride = p < whole ? GROUP * PANEL : PANEL;
    for (let k = 0; k < K; k++, i += 32) {
      const o = dst + ((<usize>(first + k * stride)) << 1);
      v128.store(o, i16x8.narrow_i32x4_u(halves(v128.load(i)), halves(v128.load(i, 16))));
    }
  }
}

/**
 * Four finite f32 → binary16 bits (in i32 lanes), round to nearest even: encodeF16 without branches. Normal
 * halves round the mantissa by adding 0xfff and its last kept bit; below 2^-14 an f32 add of 0.5 rounds to
 * the subnormal's units of 2^-24 (f32's own rounding, to nearest even); from 2^16 up, ∞.
 */
// @ts-ignore: decorator
@inline function halves(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(0x80000000));
  const f = v128.xor(x, sign);
  const odd = v128.and(i32x4.shr_u(f, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(f, i32x4.splat(((15 - 127) << 23) + 0xfff)), odd), 13);
  const half = f32x4.splat(0.5);
  const subnormal = i32x4.sub(f32x4.add(f, half), half);
  let h = v128.bitselect(subnormal, normal, i32x4.lt_s(f, i32x4.splat(113 << 23)));
  h = v128.bitselect(i32x4.splat(0x7c00), h, i32x4.ge_s(f, i32x4.splat((127 + 16) << 23)));
  return v128.or(h, i32x4.shr_u(sign, 16));
}

/**
 * src f32 panels [nPanel][K][8] (K % 32 == 0) → int8 at q, pairs of steps per column, every whole group of
 * four panels interleaved pair by pair, [K / 2][4][8][2], the rest [K / 2][8][2]; the blocks' scales as
 * binary16 bits at scales, [nPanel][K / 32][8].
 */
export function convertInt8(src: usize, nPanel: i32, K: i32, q: usize, scales: usize): void {
  const nBlock = K / Q8_BLOCK;
  const whole = nPanel - (nPanel % GROUP);
  for (let p = 0; p < nPanel; p++) {
    // Pair j of panel p: in its group at pair j, slot p % 4 — or, past the whole groups, where it is.
    const pairs = p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * 2 * PANEL : p * K * PANEL;
    const stride = p < whole ? GROUP * 2 * PANEL : 2 * PANEL;
    for (let b = 0; b < nBlock; b++) {
      // The block, [32][8] f32, is read front to back: the eight columns' amax at once, then step by step.
      const first = src + ((<usize>((p * K + b * Q8_BLOCK) * PANEL)) << 2);
      let lo = f32x4.splat(0);
      let hi = f32x4.splat(0);
      for (let k = 0; k < Q8_BLOCK; k++) {
        lo = f32x4.max(lo, f32x4.abs(v128.load(first + (<usize>k << 5))));
        hi = f32x4.max(hi, f32x4.abs(v128.load(first + (<usize>k << 5), 16)));
      }
      const scaleAt = scales + ((<usize>((p * nBlock + b) * PANEL)) << 1);
      const s01 = f64x2.replace_lane(f64x2.splat(blockScale(f32x4.extract_lane(lo, 0), scaleAt)), 1, blockScale(f32x4.extract_lane(lo, 1), scaleAt + 2));
      const s23 = f64x2.replace_lane(f64x2.splat(blockScale(f32x4.extract_lane(lo, 2), scaleAt + 4)), 1, blockScale(f32x4.extract_lane(lo, 3), scaleAt + 6));
      const s45 = f64x2.replace_lane(f64x2.splat(blockScale(f32x4.extract_lane(hi, 0), scaleAt + 8)), 1, blockScale(f32x4.extract_lane(hi, 1), scaleAt + 10));
      const s67 = f64x2.replace_lane(f64x2.splat(blockScale(f32x4.extract_lane(hi, 2), scaleAt + 12)), 1, blockScale(f32x4.extract_lane(hi, 3), scaleAt + 14));
      for (let k = 0; k < Q8_BLOCK; k++) {
        const kk = b * Q8_BLOCK + k;
        const row = first + (<usize>k << 5);
        const at = q + <usize>(pairs + (kk >> 1) * stride + (kk & 1));
        const lo = v128.load(row);
        const hi = v128.load(row, 16);
        const q01 = q8Pair(f64x2.promote_low_f32x4(lo), s01);
        const q23 = q8Pair(f64x2.promote_low_f32x4(i32x4.shuffle(lo, lo, 2, 3, 0, 1)), s23);
        const q45 = q8Pair(f64x2.promote_low_f32x4(hi), s45);
        const q67 = q8Pair(f64x2.promote_low_f32x4(i32x4.shuffle(hi, hi, 2, 3, 0, 1)), s67);
        store<i8>(at, <i8>i32x4.extract_lane(q01, 0)); store<i8>(at, <i8>i32x4.extract_lane(q01, 1), 2);
        store<i8>(at, <i8>i32x4.extract_lane(q23, 0), 4); store<i8>(at, <i8>i32x4.extract_lane(q23, 1), 6);
        store<i8>(at, <i8>i32x4.extract_lane(q45, 0), 8); store<i8>(at, <i8>i32x4.extract_lane(q45, 1), 10);
        store<i8>(at, <i8>i32x4.extract_lane(q67, 0), 12); store<i8>(at, <i8>i32x4.extract_lane(q67, 1), 14);
      }
    }
  }
}

/**
 * A column's block scale from its amax: amax / 127 in f64 rounded to f32, then to f16, as the host computes
 * it (q8.ts q8Scale). Its f16 bits go to `to`; its value is returned. (Kept in registers, not in module data:
 * a worker instantiated over the shared memory while the host converts would re-apply the data segments.)
 */
// @ts-ignore: decorator
@inline function blockScale(amax: f32, to: usize): f64 {
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
@inline function q8Pair(w: v128, scale: v128): v128 {
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
