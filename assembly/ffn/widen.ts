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
