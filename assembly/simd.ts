// Shared SIMD helpers. The two builds differ only here: with relaxed-SIMD enabled the multiply-add is a
// single f32x4.relaxed_madd (fused on hosts with FMA), otherwise a mul followed by an add.

/** 1 when this module was compiled with relaxed-SIMD (the FMA build), else 0; the host reports it. */
export function relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/** a · b + c per lane. `ASC_FEATURE_RELAXED_SIMD` is a compile-time constant, so only one branch is emitted. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Sum of the four lanes, pairwise so the rounding does not depend on the lane order of a single chain. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}
