// Weight storage types of the packed panels, widened to f32 in registers as the kernels load them. The
// kernels are generic over the storage type W (one instantiation each, chosen at compile time):
//   f32  4 bytes per weight, loaded as is;
//   u16  f16 bits (2 bytes), widened exactly: loaded sign-extended to 32 bits and shifted left by 13,
//        the sign lands in bit 31 and exponent + mantissa in bits 27..13 (bits 30..28 hold copies of
//        the sign: masked off); read as f32 that is the value times 2⁻¹¹², so one multiply by 2¹¹²
//        restores it — normals and subnormals alike;
//   i8   block-wise symmetric int8 (1 byte): every run of Q8_BLOCK weights of one output column along the
//        reduction shares one scale (an f16 value, stored as f16 beside the panels), w = q · scale. These
//        are not widened: q8.ts multiplies them as integers, in panels [K / 2][8][2].
// f32 panels keep the layout of layout.ts, [K][8] elements of W; f16 panels the same, except that every
// whole group of four (panels 4g .. 4g+3 of a projection) is interleaved step by step, [K][4][8] halves
// (panelAt, panelStep): the single-row kernel then reads one stream of 64 bytes per step instead of four
// streams 16 KiB apart, which DRAM serves ~1.3x faster (same decode, measured: 6.4 -> 8.6 G weights/s; the
// same for f32 panels was slower, 6.2 -> 5.3, so f32 keeps four streams). int8 panels, [K / 2][8][2]
// (q8.ts), interleave their groups the same way by pairs of steps, [K / 2][4][8][2], and their kernels read
// a whole group at once, row tiles included (q8.ts q8Tile4x32), so the group streams in order whatever the
// rows; a tile kernel reading one panel of a group (64 bytes per pair of steps) took 0.7x the time of the
// old layout from DRAM, the whole-group one ~1x. Measured, int8 MoE blocks on 1 thread, one process,
// alternating with the old layout (four panels 16 KiB apart), same outputs bit for bit: E32/k4/d1024/f512
// decode from DRAM 0.67–0.73 -> 0.44–0.46 ms, T4 2.1–2.2 -> 1.6 ms, T16 and T64 1.00–1.05x; E8/k2/d2048/f1408
// decode 1.43 -> 1.15 ms, T4 4.8 -> 4.0 ms. The last nPanel % 4 panels keep their own layout. int8 scales
// are [K / Q8_BLOCK][8] f16 per panel, widened as the weights are (weightsLo/Hi<u16>).

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

/** 2¹¹², the factor between f16 bits moved into f32 position and their value. */
export const F16_SCALE: f32 = 5.192296858534828e33;

/**
 * Largest |x| (exclusive) whose product with F16_SCALE stays finite, with a margin: x · 2¹¹² < 2¹²⁷.
 * Below it, the kernels may fold F16_SCALE into the activations instead of into every weight (foldScale).
 */
const FOLD_LIMIT: f32 = 32768; // 2¹⁵

/** f16 bits, sign-extended into each i32 lane → f32 bits of the value times 2⁻¹¹² (exact, see above). */
// @ts-ignore: decorator
@inline function halfBits(h: v128): v128 {
  return v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff));
}

/** f16 bits, sign-extended into each i32 lane → f32. */
// @ts-ignore: decorator
@inline function halfToFloat(h: v128): v128 {
  return f32x4.mul(halfBits(h), f32x4.splat(F16_SCALE));
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

/**
 * Columns 0..3 / 4..7 of one step of K at p, f16 only, left scaled by 2⁻¹¹²: the caller multiplies the
 * activation by F16_SCALE instead. Powers of two scale exactly (neither factor leaves the f32 range, nor
 * loses bits: the scaled weight is the f16 value's exact f32 image, subnormals included), so every product
 * x · 2¹¹² · w · 2⁻¹¹² rounds as x · w does (a fused multiply-add as well) — bit-identical sums, one
 * multiply fewer per 4 weights (and one constant fewer in the kernel's registers).
 */
// @ts-ignore: decorator
@inline export function halfBitsLo(p: usize): v128 {
  return halfBits(v128.load16x4_s(p));
}

// @ts-ignore: decorator
@inline export function halfBitsHi(p: usize): v128 {
  return halfBits(v128.load16x4_s(p, 8));
}

/**
 * Four f16 in the high halves of the i32 lanes of v (the low halves may hold anything) → as halfBits: an
 * arithmetic shift by 3 puts the sign in bit 31 (copies in 30..28) and exponent + mantissa in 27..13, the
 * low half lands in 12..0, and the mask (highHalfMask) keeps bits 31 and 27..13. The same bits as halfBits,
 * so exact alike; two operations per 4 weights, no widening load: a plain 16-byte load at p gives the odd
 * columns of a step at p, and one at p − 2 the even columns (each lane's high half is then the half before).
 */
// @ts-ignore: decorator
@inline export function highHalfBits(v: v128, mask: v128): v128 {
  return v128.and(i32x4.shr_s(v, 3), mask);
}

/** highHalfBits, times F16_SCALE: the weights' f32 values. */
// @ts-ignore: decorator
@inline export function highHalfFloats(v: v128, mask: v128): v128 {
  return f32x4.mul(highHalfBits(v, mask), f32x4.splat(F16_SCALE));
}

const HIGH_HALF_MASK = memory.data<i32>([0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000]);

/**
 * highHalfBits' mask, for a kernel to take once before its loop. Loaded from memory, not a v128.const: V8
 * builds a constant again in every pass of the loop that uses it (a mov, a movq and a punpcklqdq, two of
 * them on the vector pipes), while a value loaded before the loop stays in a register. Measured on
 * row1x32 f16 (bench/row1.mjs): from DRAM 9.26 -> 10.1 G weights/s, in L2 12.1 -> 12.5.
 */
// @ts-ignore: decorator
@inline export function highHalfMask(): v128 {
  return v128.load(HIGH_HALF_MASK);
}

/** Whether panel p of nPanel is in a whole group of four, interleaved (f16 and int8). */
// @ts-ignore: decorator
@inline function interleaved<W>(p: i32, nPanel: i32): bool {
  return sizeof<W>() < 4 && p < (nPanel & ~3);
}

/**
 * First step of panel p of a projection's nPanel panels of panelBytes each, packed from `packed`: p ·
 * panelBytes, or for an interleaved f16 panel its group's start plus 16 bytes per panel before it. (int8
 * kernels take a whole interleaved group from its start, or a panel past the groups, where this is
 * p · panelBytes.)
 */
// @ts-ignore: decorator
@inline export function panelAt<W>(packed: usize, p: i32, nPanel: i32, panelBytes: usize): usize {
  if (interleaved<W>(p, nPanel)) return packed + <usize>(p & ~3) * panelBytes + (<usize>(p & 3) << 4);
  return packed + <usize>p * panelBytes;
}

/** Bytes from one step of K of panel p to the next: stepBytes, or 64 for an interleaved panel (f16; int8 pairs). */
// @ts-ignore: decorator
@inline export function panelStep<W>(p: i32, nPanel: i32): usize {
  return interleaved<W>(p, nPanel) ? 64 : stepBytes<W>();
}

/**
 * f16 only: dst [n] = src [n] · F16_SCALE when every |src| is below FOLD_LIMIT (so each product is exact
 * and finite), for kernels that then take the weights as halfBits* — the scale folded into the
 * activations once instead of multiplied into every weight. Returns whether it did; on false (f32 or
 * int8 weights, a large value, a NaN) dst is untouched and the caller keeps the per-weight multiply.
 * dst may be src. n % 4 == 0.
 */
export function foldScale<W>(src: usize, n: i32, dst: usize): bool {
  if (sizeof<W>() != 2) return false;
  const bytes = <usize>n << 2;
  let m = f32x4.splat(0);
  for (let i: usize = 0; i < bytes; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(src + i)));
  // f32x4.max propagates NaN, and NaN < FOLD_LIMIT is false.
  if (!v128.all_true<i32>(f32x4.lt(m, f32x4.splat(FOLD_LIMIT)))) return false;
  const scale = f32x4.splat(F16_SCALE);
  for (let i: usize = 0; i < bytes; i += 16) v128.store(dst + i, f32x4.mul(v128.load(src + i), scale));
  return true;
}

/**
 * Row tiles at or above which a projection runs f16 panels through the f32 tile kernel on a widened copy
 * (widenPanel): the decode is then paid once per panel instead of once per tile. With one tile the copy
 * costs what it saves.
 */
export const WIDEN_MIN_TILES: i32 = 2;

/**
 * f16 only: one panel's K steps (the first at `panel`, then `step` bytes apart: panelAt, panelStep) into
 * dst [K][8] as f32 values. Exact, so the f32 kernel's products on them are the f16 kernel's, bit for bit;
 * each column still sums k in order from its bias (tile.ts), so the sums are too.
 */
export function widenPanel(panel: usize, step: usize, K: i32, dst: usize): void {
  const end = dst + (<usize>K << 5);
  let p = panel;
  for (let d = dst; d < end; d += 32) {
    v128.store(d, weightsLo<u16>(p));
    v128.store(d, weightsHi<u16>(p), 16);
    p += step;
  }
}
