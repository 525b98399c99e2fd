// Down projection of one expert: y[r, m] = down[m] · h_r + downBias[m], over pre-packed panels
// (layout.ts) and h as row tiles then tail rows (gate-up.ts writes it so; gemm.ts packs a plain A so).
//   f32-down-4x8: a packed 4-row tile × one panel, 8 f32x4 accumulators, 4 load-splats at fixed offsets;
//   f32-down-1x8: one tail row, K unrolled by 4 over four accumulator pairs.
// y rows have stride dModelPad = roundUp(dModel, 8), so every store is a full panel width.
import { madd } from '../simd';
import { PANEL } from './layout';

/** tile [K][4] × panel [K][8] (+ bias [8]) → 4 rows of 8 at y, y + yStride, … */
function down4x8(tile: usize, panel: usize, K: i32, bias: usize, y: usize, yStride: usize): void {
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
  let a = tile;
  let p = panel;
  const end = tile + (<usize>K << 4);
  while (a < end) {
    const w0 = v128.load(p);
    const w1 = v128.load(p, 16);
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a, 4);
    const x2 = v128.load32_splat(a, 8);
    const x3 = v128.load32_splat(a, 12);
    c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
    c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
    c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
    c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
    a += 16;
    p += 32;
  }
  v128.store(y, c00); v128.store(y, c01, 16);
  y += yStride;
  v128.store(y, c10); v128.store(y, c11, 16);
  y += yStride;
  v128.store(y, c20); v128.store(y, c21, 16);
  y += yStride;
  v128.store(y, c30); v128.store(y, c31, 16);
}

/** a [K] × panel [K][8] (+ bias [8]) → y [8]; K % 4 == 0. */
function down1x8(a: usize, panel: usize, K: i32, bias: usize, y: usize): void {
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
  v128.store(y, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)));
  v128.store(y, f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), 16);
}

/**
 * y = down · h (+ bias) for the rows of one expert.
 * @param h      [nRow, dFFPad]: nRow / 4 row tiles [dFFPad][4], then the tail rows row-major; dFFPad % 4 == 0
 * @param packed down panels of this expert, [dModelPad / 8, dFFPad, 8]
 * @param bias   [dModelPad], or 0
 * @param y      [nRow, dModelPad] out, row-major
 */
export function down(h: usize, nRow: i32, dFFPad: i32, packed: usize, bias: usize, dModelPad: i32, y: usize): void {
  const hRowBytes = <usize>dFFPad << 2;
  const hTileBytes = hRowBytes << 2;
  const yStride = <usize>dModelPad << 2;
  const panelBytes = hRowBytes << 3;
  const nPanel = dModelPad / PANEL;
  const nTile = nRow >> 2;
  for (let q = 0; q < nPanel; q++) {
    const panel = packed + <usize>q * panelBytes;
    const pb = bias ? bias + (<usize>q << 5) : 0;
    const yCol = y + (<usize>(q * PANEL) << 2);
    for (let t = 0; t < nTile; t++) {
      down4x8(h + <usize>t * hTileBytes, panel, dFFPad, pb, yCol + <usize>(t << 2) * yStride, yStride);
    }
    for (let r = nTile << 2; r < nRow; r++) down1x8(h + <usize>r * hRowBytes, panel, dFFPad, pb, yCol + <usize>r * yStride);
  }
}
