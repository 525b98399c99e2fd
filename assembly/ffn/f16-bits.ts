// binary16 bits from f32 and back, as ts/formats/dtype.ts encodes and decodes them: shared by the load-time
// converters of both weight layouts (convert.ts for the WASM panels, convert-rows.ts for the WebGPU rows).

/** f32 → binary16 bits, round to nearest even; ±inf past the range, NaN stays NaN (dtype.ts encodeF16). */
// @ts-ignore: decorator
@inline export function encodeF16(x: f32): u32 {
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
@inline export function decodeF16(h: u32): f64 {
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
 * Four finite f32 → binary16 bits (in i32 lanes), round to nearest even: encodeF16 without branches. Normal
 * halves round the mantissa by adding 0xfff and its last kept bit; below 2^-14 an f32 add of 0.5 rounds to
 * the subnormal's units of 2^-24 (f32's own rounding, to nearest even); from 2^16 up, ∞.
 */
// @ts-ignore: decorator
@inline export function halves(x: v128): v128 {
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
