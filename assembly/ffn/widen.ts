// bf16 checkpoint weights widened to f32 in the module at load time: the host copies a run of rows' bits into
// the second half of their f32 staging block and this widens them forward, in place (bfloat16 is the high half
// of a float32). In TypeScript the same widening took ~2 ns a value, the largest part of a bf16 layer's load.

/**
 * n bf16 values at src → f32 at dst: apart, or in place with src = dst + 2n (the staging layout), where each
 * step's eight inputs are read before its 32 output bytes are written and those end before the next step's
 * inputs begin.
 */
export function widenBf16(src: usize, n: i32, dst: usize): void {
  const whole = n & ~7;
  for (let i = 0; i < whole; i += 8) {
    const bits = v128.load(src + (<usize>i << 1));
    const to = dst + (<usize>i << 2);
    v128.store(to, i32x4.shl(i32x4.extend_low_i16x8_u(bits), 16));
    v128.store(to, i32x4.shl(i32x4.extend_high_i16x8_u(bits), 16), 16);
  }
  for (let i = whole; i < n; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}

// MXFP4 (GPT-OSS's experts, ts/formats/mxfp4.ts) decoded the same way: blocks of 32 e2m1 values, 16 bytes a
// block (value 2j in byte j's low nibble, 2j + 1 in its high one), each block times its scale 2^(s − 127).
// An e2m1 value's f32 bits have only their two high bytes set, so each nibble picks those two bytes from a
// table of 16 (i8x16.swizzle) and the f32 is the product with the scale: the one rounding of e2m1 × 2^(s − 127)
// that the TypeScript decoder makes (formats/mxfp4.ts; the same bits, −0 included).
const E2M1_BYTE2 = memory.data<u8>([0, 0, 0x80, 0xc0, 0, 0x40, 0x80, 0xc0, 0, 0, 0x80, 0xc0, 0, 0x40, 0x80, 0xc0]);
const E2M1_BYTE3 = memory.data<u8>([0, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, 0x80, 0xbf, 0xbf, 0xbf, 0xc0, 0xc0, 0xc0, 0xc0]);

/** Sixteen nibbles' e2m1 values as f32 × scale at dst (64 bytes). */
// @ts-ignore: decorator
@inline function e2m1Sixteen(nibbles: v128, byte2: v128, byte3: v128, scale: v128, dst: usize): void {
  const lo = i8x16.swizzle(byte2, nibbles);
  const hi = i8x16.swizzle(byte3, nibbles);
  const top0 = i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const top1 = i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const zero = i32x4.splat(0);
  v128.store(dst, f32x4.mul(i8x16.shuffle(zero, top0, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), scale));
  v128.store(dst, f32x4.mul(i8x16.shuffle(zero, top0, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), scale), 16);
  v128.store(dst, f32x4.mul(i8x16.shuffle(zero, top1, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), scale), 32);
  v128.store(dst, f32x4.mul(i8x16.shuffle(zero, top1, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), scale), 48);
}

/**
 * nBlock MXFP4 blocks at `blocks` (16 bytes each) with their scales at `scales` (one byte each, all below 255:
 * checked by the host) → 32 · nBlock f32 at dst: apart, or in place with blocks = dst + 112 · nBlock (the
 * staging layout: the bytes at the end of their f32 block), where each block is read before its 128 output
 * bytes are written and those end before the next block's bytes begin.
 */
export function widenMxfp4(blocks: usize, scales: usize, nBlock: i32, dst: usize): void {
  const byte2 = v128.load(E2M1_BYTE2);
  const byte3 = v128.load(E2M1_BYTE3);
  const mask = i8x16.splat(0x0f);
  for (let b = 0; b < nBlock; b++) {
    const bytes = v128.load(blocks + (<usize>b << 4));
    // 2^(s − 127) as an f64 (exact), then as f32: exact too, down to 2^-127 (an f32 subnormal).
    const s = <i64>load<u8>(scales + <usize>b);
    const scale = f32x4.splat(<f32>reinterpret<f64>((s + 1023 - 127) << 52));
    const low = v128.and(bytes, mask);
    const high = i8x16.shr_u(bytes, 4);
    const to = dst + (<usize>b << 7);
    e2m1Sixteen(i8x16.shuffle(low, high, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), byte2, byte3, scale, to);
    e2m1Sixteen(i8x16.shuffle(low, high, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), byte2, byte3, scale, to + 64);
  }
}
