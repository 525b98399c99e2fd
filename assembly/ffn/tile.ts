// The micro-kernels of every expert projection: rows of A times pre-packed weight panels [K][8] (layout.ts)
// of storage type W (weights.ts), started from a bias. They leave their 8 accumulators in ACC; the
// caller's epilogue (activation and transposed store in gate-up.ts, plain store in down.ts) reads them
// back. Eight v128 stores and loads per call are nothing beside the K-long loop, and the loop is written
// once for both projections and all three storage types.
//   tile4x8<W>: a packed 4-row tile [K][4] (pack.ts) × one panel: 8 accumulators, 4 load-splats at fixed
//               offsets and one panel step per step of K. ACC = rows 0..3 × (cols 0..3, 4..7).
//   row1x32<W>: one row × four panels at once — four weight streams in flight read DRAM ~1.5× faster
//               than one (measured: 15.6 vs 10.3 GB/s over a 92 MB working set). ACC = panels 0..3 ×
//               (cols 0..3, 4..7).
//   row1x8<W>:  one row × one panel (the last nPanel % 4), K unrolled by 4 over four accumulator pairs so
//               consecutive madds do not wait on each other. ACC = (cols 0..3, 4..7).
// int8 panels carry one scale per column per Q8_BLOCK steps: the widened weights are scaled before the
// madd (K is a multiple of Q8_BLOCK for them).
import { madd } from '../simd';
import { isQ8, Q8_BLOCK, stepBytes, weightsHi, weightsLo } from './weights';

/** The accumulators of the last kernel call, 8 × v128. */
export const ACC: usize = memory.data(128, 16);

// @ts-ignore: decorator
@inline function biasLo(bias: usize, at: usize): v128 {
  return bias ? v128.load(bias + at) : f32x4.splat(0);
}

/**
 * @param tile   [K][4] packed rows
 * @param panel  [K][8] of W
 * @param scales [K / Q8_BLOCK][8] (int8 only)
 * @param bias   [8], or 0
 */
export function tile4x8<W>(tile: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  const b0 = biasLo(bias, 0);
  const b1 = biasLo(bias, 16);
  let c00 = b0, c01 = b1;
  let c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1;
  let c30 = b0, c31 = b1;
  let a = tile;
  let p = panel;
  let s = scales;
  const end = tile + (<usize>K << 4);
  // int8: one block of steps per pair of scales; other types: all of K in one block.
  const blockBytes: usize = isQ8<W>() ? <usize>Q8_BLOCK << 4 : <usize>K << 4;
  while (a < end) {
    let s0 = f32x4.splat(1);
    let s1 = f32x4.splat(1);
    if (isQ8<W>()) {
      s0 = v128.load(s);
      s1 = v128.load(s, 16);
      s += 32;
    }
    const blockEnd = a + blockBytes;
    while (a < blockEnd) {
      let w0 = weightsLo<W>(p);
      let w1 = weightsHi<W>(p);
      if (isQ8<W>()) {
        w0 = f32x4.mul(w0, s0);
        w1 = f32x4.mul(w1, s1);
      }
      const x0 = v128.load32_splat(a);
      const x1 = v128.load32_splat(a, 4);
      const x2 = v128.load32_splat(a, 8);
      const x3 = v128.load32_splat(a, 12);
      c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
      c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
      c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
      c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
      a += 16;
      p += stepBytes<W>();
    }
  }
  v128.store(ACC, c00); v128.store(ACC, c01, 16);
  v128.store(ACC, c10, 32); v128.store(ACC, c11, 48);
  v128.store(ACC, c20, 64); v128.store(ACC, c21, 80);
  v128.store(ACC, c30, 96); v128.store(ACC, c31, 112);
}

/** One step of K of one panel, scaled for int8 (scales reloaded from L1: no registers to spare). */
// @ts-ignore: decorator
@inline function stepLo<W>(p: usize, s: usize): v128 {
  const w = weightsLo<W>(p);
  return isQ8<W>() ? f32x4.mul(w, v128.load(s)) : w;
}

// @ts-ignore: decorator
@inline function stepHi<W>(p: usize, s: usize): v128 {
  const w = weightsHi<W>(p);
  return isQ8<W>() ? f32x4.mul(w, v128.load(s, 16)) : w;
}

/**
 * @param x          [K] one row
 * @param panel      the first of four consecutive panels, panelBytes apart
 * @param scales     its [K / Q8_BLOCK][8] (int8 only); the next panels' follow scaleBytes apart
 * @param bias       [4][8], or 0
 */
export function row1x32<W>(x: usize, panel: usize, panelBytes: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  let c0 = biasLo(bias, 0), e0 = biasLo(bias, 16);
  let c1 = biasLo(bias, 32), e1 = biasLo(bias, 48);
  let c2 = biasLo(bias, 64), e2 = biasLo(bias, 80);
  let c3 = biasLo(bias, 96), e3 = biasLo(bias, 112);
  let p0 = panel;
  let p1 = p0 + panelBytes;
  let p2 = p1 + panelBytes;
  let p3 = p2 + panelBytes;
  let s = scales;
  const end = x + (<usize>K << 2);
  let blockEnd = x + (<usize>Q8_BLOCK << 2);
  while (x < end) {
    const xv = v128.load32_splat(x);
    c0 = madd(xv, stepLo<W>(p0, s), c0); e0 = madd(xv, stepHi<W>(p0, s), e0);
    c1 = madd(xv, stepLo<W>(p1, s + scaleBytes), c1); e1 = madd(xv, stepHi<W>(p1, s + scaleBytes), e1);
    c2 = madd(xv, stepLo<W>(p2, s + 2 * scaleBytes), c2); e2 = madd(xv, stepHi<W>(p2, s + 2 * scaleBytes), e2);
    c3 = madd(xv, stepLo<W>(p3, s + 3 * scaleBytes), c3); e3 = madd(xv, stepHi<W>(p3, s + 3 * scaleBytes), e3);
    x += 4;
    const step = stepBytes<W>();
    p0 += step; p1 += step; p2 += step; p3 += step;
    if (isQ8<W>() && x == blockEnd) {
      s += 32;
      blockEnd += <usize>Q8_BLOCK << 2;
    }
  }
  v128.store(ACC, c0); v128.store(ACC, e0, 16);
  v128.store(ACC, c1, 32); v128.store(ACC, e1, 48);
  v128.store(ACC, c2, 64); v128.store(ACC, e2, 80);
  v128.store(ACC, c3, 96); v128.store(ACC, e3, 112);
}

/** x [K] × one panel [K][8] (+ bias [8]); K % 4 == 0. */
export function row1x8<W>(x: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  let c0 = biasLo(bias, 0), e0 = biasLo(bias, 16);
  let c1 = f32x4.splat(0), e1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), e2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), e3 = f32x4.splat(0);
  let p = panel;
  let s = scales;
  const end = x + (<usize>K << 2);
  const step = stepBytes<W>();
  let i = 0;
  while (x < end) {
    const x0 = v128.load32_splat(x);
    const x1 = v128.load32_splat(x, 4);
    const x2 = v128.load32_splat(x, 8);
    const x3 = v128.load32_splat(x, 12);
    c0 = madd(x0, stepLo<W>(p, s), c0); e0 = madd(x0, stepHi<W>(p, s), e0);
    c1 = madd(x1, stepLo<W>(p + step, s), c1); e1 = madd(x1, stepHi<W>(p + step, s), e1);
    c2 = madd(x2, stepLo<W>(p + 2 * step, s), c2); e2 = madd(x2, stepHi<W>(p + 2 * step, s), e2);
    c3 = madd(x3, stepLo<W>(p + 3 * step, s), c3); e3 = madd(x3, stepHi<W>(p + 3 * step, s), e3);
    x += 16;
    p += 4 * step;
    // Four steps per iteration, Q8_BLOCK / 4 iterations per int8 block.
    if (isQ8<W>() && ++i == Q8_BLOCK / 4) {
      i = 0;
      s += 32;
    }
  }
  v128.store(ACC, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)));
  v128.store(ACC, f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), 16);
}
