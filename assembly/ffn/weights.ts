// Weight storage types of the packed panels, widened to f32 in registers as the kernels load them. The
// kernels are generic over the storage type W (one instantiation each, chosen at compile time):
//   f32  4 bytes per weight, loaded as is;
//   u16  f16 bits (2 bytes), widened exactly: loaded sign-extended to 32 bits and shifted left by 13,
//        the sign lands in bit 31 and exponent + mantissa in bits 27..13 (bits 30..28 hold copies of
//        the sign: masked off); read as f32 that is the value times 2⁻¹¹², so one multiply by 2¹¹²
//        restores it — normals and subnormals alike;
//   i8   block-wise symmetric int8 (1 byte): every run of Q8_BLOCK weights of one output column along the
//        reduction shares one scale (an f16 value, kept as f32 beside the panels), w = q · scale. These
//        are not widened: q8.ts multiplies them as integers, in panels [K / 2][8][2].
// f32 and f16 panels keep the layout of layout.ts, [K][8] elements of W; int8 scales are [K / Q8_BLOCK][8]
// f32 per panel.

/** Host codes for the storage type (ts/backends/wasm-experts.ts). */
export const WEIGHT_F32: i32 = 0;
export const WEIGHT_F16: i32 = 1;
export const WEIGHT_INT8: i32 = 2;

/** Weights of one column sharing an int8 scale; the reduction is padded to a multiple of it. */
export const Q8_BLOCK: i32 = 32;

/** Bytes of one step of K in a panel (8 weights). */
// @ts-ignore: decorator
@inline export function stepBytes<W>(): usize {
  return <usize>(sizeof<W>() << 3);
}

// @ts-ignore: decorator
@inline export function isQ8<W>(): bool {
  return sizeof<W>() == 1;
}

/** f16 bits, sign-extended into each i32 lane → f32. */
// @ts-ignore: decorator
@inline function halfToFloat(h: v128): v128 {
  const bits = v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff));
  return f32x4.mul(bits, f32x4.splat(5.192296858534828e33)); // 2¹¹²
}

/** Columns 0..3 of one step of K at p (f32 or f16). */
// @ts-ignore: decorator
@inline export function weightsLo<W>(p: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(p);
  return halfToFloat(v128.load16x4_s(p));
}

/** Columns 4..7 of one step of K at p (f32 or f16). */
// @ts-ignore: decorator
@inline export function weightsHi<W>(p: usize): v128 {
  if (sizeof<W>() == 4) return v128.load(p, 16);
  return halfToFloat(v128.load16x4_s(p, 8));
}
