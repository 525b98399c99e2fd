// The GEMM micro-kernels every expert projection runs: rows of A (any addresses) times one pre-packed
// panel [K][8] (see layout.ts) → 8 sums per row, started from the panel's bias and finished by an
// activation epilogue (activation.ts) while still in registers.
//   f32-tile-4x8: 4 rows × 8 columns, 8 f32x4 accumulators, one load-splat per row per step of K;
//   f32-tile-1x8: 1 row (the tail, and T = 1 decode), K unrolled by 4 over four accumulator pairs so
//                 consecutive madds do not wait on each other. Needs K % 4 == 0 (the packer pads K).
import { madd } from '../simd';
import { storeRow } from './activation';

/**
 * @param a0..a3 A rows [K]
 * @param panel  [K][8]
 * @param bias   [8] initial sums, or 0 for none
 * @param d0..d3 destinations (4 or 8 floats each, by act)
 */
export function tile4x8(
  a0: usize, a1: usize, a2: usize, a3: usize, panel: usize, K: i32, bias: usize,
  d0: usize, d1: usize, d2: usize, d3: usize, act: i32, alpha: f32, limit: f32,
): void {
  let b0 = f32x4.splat(0);
  let b1 = f32x4.splat(0);
  if (bias) {
    b0 = v128.load(bias);
    b1 = v128.load(bias, 16);
  }
  let c00 = b0, c01 = b1;
  let c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1;
  let c30 = b0, c31 = b1;
  let p = panel;
  const end = a0 + (<usize>K << 2);
  while (a0 < end) {
    const w0 = v128.load(p);
    const w1 = v128.load(p, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    const x3 = v128.load32_splat(a3);
    c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
    c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
    c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
    c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
    a0 += 4; a1 += 4; a2 += 4; a3 += 4;
    p += 32;
  }
  storeRow(act, c00, c01, d0, alpha, limit);
  storeRow(act, c10, c11, d1, alpha, limit);
  storeRow(act, c20, c21, d2, alpha, limit);
  storeRow(act, c30, c31, d3, alpha, limit);
}

/** 1 row × one panel; K % 4 == 0. */
export function tile1x8(a: usize, panel: usize, K: i32, bias: usize, d: usize, act: i32, alpha: f32, limit: f32): void {
  let c0 = f32x4.splat(0), e0 = f32x4.splat(0);
  if (bias) {
    c0 = v128.load(bias);
    e0 = v128.load(bias, 16);
  }
  let c1 = f32x4.splat(0), e1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), e2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), e3 = f32x4.splat(0);
  let p = panel;
  const end = a + (<usize>K << 2);
  while (a < end) {
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a, 4);
    const x2 = v128.load32_splat(a, 8);
    const x3 = v128.load32_splat(a, 12);
    c0 = madd(x0, v128.load(p), c0); e0 = madd(x0, v128.load(p, 16), e0);
    c1 = madd(x1, v128.load(p, 32), c1); e1 = madd(x1, v128.load(p, 48), e1);
    c2 = madd(x2, v128.load(p, 64), c2); e2 = madd(x2, v128.load(p, 80), e2);
    c3 = madd(x3, v128.load(p, 96), c3); e3 = madd(x3, v128.load(p, 112), e3);
    a += 16;
    p += 128;
  }
  storeRow(act, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), d, alpha, limit);
}
