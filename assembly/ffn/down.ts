// Down projection of one expert: y[r, m] = down[m] · h_r, over pre-packed panels (see layout.ts).
//   f32-down-4x8: 4 rows × 8 outputs, 8 f32x4 accumulators, one splat per row per step;
//   f32-down-1x8: the 1-row tail, reduction unrolled by 4 (dFFPad is a multiple of 4) over four
//   accumulator pairs so consecutive madds do not wait on each other.
// y rows have stride dModelPad = roundUp(dModel, 8), so every store is a full panel width.
import { madd } from '../simd';
import { DOWN_COLS } from './layout';

/** 4 rows × one panel. a*: h rows [dFFPad]; panel: [dFFPad][8]; y*: 8 outputs each. */
function down4x8(
  a0: usize, a1: usize, a2: usize, a3: usize, panel: usize, dFFPad: i32,
  y0: usize, y1: usize, y2: usize, y3: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let p = panel;
  const end = a0 + (<usize>dFFPad << 2);
  while (a0 < end) {
    const b0 = v128.load(p);
    const b1 = v128.load(p, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    const x3 = v128.load32_splat(a3);
    c00 = madd(x0, b0, c00); c01 = madd(x0, b1, c01);
    c10 = madd(x1, b0, c10); c11 = madd(x1, b1, c11);
    c20 = madd(x2, b0, c20); c21 = madd(x2, b1, c21);
    c30 = madd(x3, b0, c30); c31 = madd(x3, b1, c31);
    a0 += 4; a1 += 4; a2 += 4; a3 += 4;
    p += 32;
  }
  v128.store(y0, c00); v128.store(y0, c01, 16);
  v128.store(y1, c10); v128.store(y1, c11, 16);
  v128.store(y2, c20); v128.store(y2, c21, 16);
  v128.store(y3, c30); v128.store(y3, c31, 16);
}

/** 1 row × one panel; dFFPad must be a multiple of 4. */
function down1x8(a: usize, panel: usize, dFFPad: i32, y: usize): void {
  let c0 = f32x4.splat(0), d0 = f32x4.splat(0);
  let c1 = f32x4.splat(0), d1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), d2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), d3 = f32x4.splat(0);
  let p = panel;
  const end = a + (<usize>dFFPad << 2);
  while (a < end) {
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a, 4);
    const x2 = v128.load32_splat(a, 8);
    const x3 = v128.load32_splat(a, 12);
    c0 = madd(x0, v128.load(p), c0); d0 = madd(x0, v128.load(p, 16), d0);
    c1 = madd(x1, v128.load(p, 32), c1); d1 = madd(x1, v128.load(p, 48), d1);
    c2 = madd(x2, v128.load(p, 64), c2); d2 = madd(x2, v128.load(p, 80), d2);
    c3 = madd(x3, v128.load(p, 96), c3); d3 = madd(x3, v128.load(p, 112), d3);
    a += 16;
    p += 128;
  }
  v128.store(y, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)));
  v128.store(y, f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3)), 16);
}

/**
 * y = down · h for the rows of one expert.
 * @param h      [nRow, dFFPad]
 * @param packed down panels of this expert, [nPanel, dFFPad, 8]
 * @param y      [nRow, dModelPad] out
 */
export function down(h: usize, nRow: i32, dFFPad: i32, packed: usize, dModelPad: i32, y: usize): void {
  const hStride = <usize>dFFPad << 2;
  const yStride = <usize>dModelPad << 2;
  const panelBytes = hStride << 3;
  const nPanel = dModelPad / DOWN_COLS;
  for (let q = 0; q < nPanel; q++) {
    const panel = packed + <usize>q * panelBytes;
    const yCol = y + (<usize>(q * DOWN_COLS) << 2);
    let r = 0;
    for (; r + 4 <= nRow; r += 4) {
      const a = h + <usize>r * hStride;
      const yr = yCol + <usize>r * yStride;
      down4x8(a, a + hStride, a + 2 * hStride, a + 3 * hStride, panel, dFFPad,
        yr, yr + yStride, yr + 2 * yStride, yr + 3 * yStride);
    }
    for (; r < nRow; r++) down1x8(h + <usize>r * hStride, panel, dFFPad, yCol + <usize>r * yStride);
  }
}
