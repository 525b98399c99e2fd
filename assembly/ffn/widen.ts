// Checkpoint weights decoded to f32 in the module at load time (bf16, f16, MXFP4, FP8): the host copies a run
// of rows' bytes to the end of their f32 staging block (ts/backends/wasm-pack.ts) and these decode them forward,
// in place. In TypeScript the same decoding took ~2 ns a value, the largest part of such a layer's load.
import { highHalfFloats, highHalfMask } from './weights';

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

// Block-wise FP8 (e4m3, formats/fp8.ts) decoded the same way: each byte placed in the top byte of its lane,
// shifted right by 4 with its sign (which smears into bits 30..27) and masked to sign | e4m3 bits at 26..20:
// the bits of the f32 e4m3 · 2^-120 (an e4m3 subnormal lands on an f32 subnormal, exactly). Times 2^120 it is
// the e4m3 value, exact; times the block's scale, the one rounding formats/fp8.ts Fp8Rows makes (the same bits).
const FP8_MASK: i32 = <i32>0x87f00000;
const FP8_UNSCALE: f32 = reinterpret<f32>(0x7b800000); // 2^120

/** Four e4m3 bytes, each in the top byte of its lane, as f32 times scale (fp8Value, four at a time). */
// @ts-ignore: decorator
@inline function fp8Four(lanes: v128, mask: v128, unscale: v128, scale: v128): v128 {
  return f32x4.mul(f32x4.mul(v128.and(i32x4.shr_s(lanes, 4), mask), unscale), scale);
}

/** One e4m3 byte as f32 times scale (the scalar form of fp8Four). */
// @ts-ignore: decorator
@inline function fp8Value(byte: u8, scale: f32): f32 {
  return reinterpret<f32>(((<i32>byte << 24) >> 4) & FP8_MASK) * FP8_UNSCALE * scale;
}

/**
 * nRow rows of `cols` e4m3 bytes at src, with each row's scales (f32, one per blockCols columns: ceil(cols /
 * blockCols) a row) at scales → f32 at dst: apart, or in place with src = dst + 3 · nRow · cols (the staging
 * layout), where each step's 16 bytes are read before its 64 output bytes are written and those end before
 * the next step's bytes begin.
 */
export function widenFp8(src: usize, scales: usize, nRow: i32, cols: i32, blockCols: i32, dst: usize): void {
  const gridCols = (cols + blockCols - 1) / blockCols;
  const mask = i32x4.splat(FP8_MASK);
  const unscale = f32x4.splat(FP8_UNSCALE);
  const zero = i32x4.splat(0);
  let s = src;
  let d = dst;
  let sc = scales;
  for (let r = 0; r < nRow; r++) {
    for (let g = 0; g < gridCols; g++) {
      const scale = load<f32>(sc);
      const scaleV = f32x4.splat(scale);
      const n = min(blockCols, cols - g * blockCols);
      const whole = n & ~15;
      for (let j = 0; j < whole; j += 16) {
        const bytes = v128.load(s + <usize>j);
        const to = d + (<usize>j << 2);
        v128.store(to, fp8Four(i8x16.shuffle(zero, bytes, 0, 1, 2, 16, 0, 1, 2, 17, 0, 1, 2, 18, 0, 1, 2, 19), mask, unscale, scaleV));
        v128.store(to, fp8Four(i8x16.shuffle(zero, bytes, 0, 1, 2, 20, 0, 1, 2, 21, 0, 1, 2, 22, 0, 1, 2, 23), mask, unscale, scaleV), 16);
        v128.store(to, fp8Four(i8x16.shuffle(zero, bytes, 0, 1, 2, 24, 0, 1, 2, 25, 0, 1, 2, 26, 0, 1, 2, 27), mask, unscale, scaleV), 32);
        v128.store(to, fp8Four(i8x16.shuffle(zero, bytes, 0, 1, 2, 28, 0, 1, 2, 29, 0, 1, 2, 30, 0, 1, 2, 31), mask, unscale, scaleV), 48);
      }
      for (let j = whole; j < n; j++) store<f32>(d + (<usize>j << 2), fp8Value(load<u8>(s + <usize>j), scale));
      s += <usize>n;
      d += <usize>n << 2;
      sc += 4;
    }
  }
}

/**
 * n f16 values at src → f32 at dst, as the f16 kernels widen their weights (weights.ts highHalfFloats: exact):
 * apart, or in place with src = dst + 2n, as widenBf16. The values must be finite (checked by the host).
 */
export function widenF16(src: usize, n: i32, dst: usize): void {
  const mask = highHalfMask();
  const zero = i32x4.splat(0);
  const whole = n & ~7;
  for (let i = 0; i < whole; i += 8) {
    const bits = v128.load(src + (<usize>i << 1));
    const to = dst + (<usize>i << 2);
    v128.store(to, highHalfFloats(i8x16.shuffle(zero, bits, 0, 1, 16, 17, 0, 1, 18, 19, 0, 1, 20, 21, 0, 1, 22, 23), mask));
    v128.store(to, highHalfFloats(i8x16.shuffle(zero, bits, 0, 1, 24, 25, 0, 1, 26, 27, 0, 1, 28, 29, 0, 1, 30, 31), mask), 16);
  }
  for (let i = whole; i < n; i++) {
    const lane = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)) << 16);
    store<f32>(dst + (<usize>i << 2), f32x4.extract_lane(highHalfFloats(lane, mask), 0));
  }
}
