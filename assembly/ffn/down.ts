// Down projection of one expert: y[r, m] = down[m] · h_r + downBias[m], over pre-packed panels
// (layout.ts) and h as row tiles then tail rows (gate-up.ts writes it so; gemm.ts packs a plain A so).
//   f32-down-4x8:  a packed 4-row tile × one panel, 8 f32x4 accumulators, 4 load-splats at fixed offsets;
//                  a zero-padded last tile stores only its real rows;
//   f32-down-1x32: the single row (decode) × four panels at once (four weight streams, as gate-up.ts);
//   f32-down-1x8:  the single row × one of the last nPanel % 4 panels, K unrolled by 4.
// y rows have stride dModelPad = roundUp(dModel, 8), so every store is a full panel width.
import { madd } from '../simd';
import { PANEL, ROW_BLOCK_BYTES } from './layout';
import { hasSingleRow, tileCount } from './pack';

/** tile [K][4] × panel [K][8] (+ bias [8]) → the first nValid (1..4) rows of 8 at y, y + yStride, … */
function down4x8(tile: usize, panel: usize, K: i32, bias: usize, y: usize, yStride: usize, nValid: i32): void {
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
  if (nValid < 3) return;
  y += yStride;
  v128.store(y, c20); v128.store(y, c21, 16);
  if (nValid < 4) return;
  y += yStride;
  v128.store(y, c30); v128.store(y, c31, 16);
}

/** a [K] × panels p0..p3 [K][8] (+ biases [4][8]) → y [32]. */
function down1x32(a: usize, panel: usize, panelBytes: usize, K: i32, bias: usize, y: usize): void {
  let c0 = f32x4.splat(0), e0 = c0, c1 = c0, e1 = c0, c2 = c0, e2 = c0, c3 = c0, e3 = c0;
  if (bias) {
    c0 = v128.load(bias); e0 = v128.load(bias, 16);
    c1 = v128.load(bias, 32); e1 = v128.load(bias, 48);
    c2 = v128.load(bias, 64); e2 = v128.load(bias, 80);
    c3 = v128.load(bias, 96); e3 = v128.load(bias, 112);
  }
  let p0 = panel;
  let p1 = p0 + panelBytes;
  let p2 = p1 + panelBytes;
  let p3 = p2 + panelBytes;
  const end = a + (<usize>K << 2);
  while (a < end) {
    const x = v128.load32_splat(a);
    c0 = madd(x, v128.load(p0), c0); e0 = madd(x, v128.load(p0, 16), e0);
    c1 = madd(x, v128.load(p1), c1); e1 = madd(x, v128.load(p1, 16), e1);
    c2 = madd(x, v128.load(p2), c2); e2 = madd(x, v128.load(p2, 16), e2);
    c3 = madd(x, v128.load(p3), c3); e3 = madd(x, v128.load(p3, 16), e3);
    a += 4;
    p0 += 32; p1 += 32; p2 += 32; p3 += 32;
  }
  v128.store(y, c0); v128.store(y, e0, 16);
  v128.store(y, c1, 32); v128.store(y, e1, 48);
  v128.store(y, c2, 64); v128.store(y, e2, 80);
  v128.store(y, c3, 96); v128.store(y, e3, 112);
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
 * @param h      row tiles [tileCount(nRow), dFFPad, 4] (the last one zero-padded when partial), then the
 *               single row [dFFPad] when nRow % 4 == 1 (pack.ts); dFFPad % 4 == 0
 * @param packed down panels of this expert, [dModelPad / 8, dFFPad, 8]
 * @param bias   [dModelPad], or 0
 * @param y      [nRow, dModelPad] out, row-major
 */
export function down(h: usize, nRow: i32, dFFPad: i32, packed: usize, bias: usize, dModelPad: i32, y: usize): void {
  const hTileBytes = <usize>dFFPad << 4;
  const yStride = <usize>dModelPad << 2;
  const panelBytes = <usize>dFFPad << 5;
  const nPanel = dModelPad / PANEL;
  const nTile = tileCount(nRow);
  const single = hasSingleRow(nRow) ? h + <usize>nTile * hTileBytes : 0;
  const ySingle = y + <usize>(nRow - 1) * yStride;
  const blockTiles = max(1, ROW_BLOCK_BYTES / <i32>hTileBytes);
  // Row blocks and panel groups as in gate-up.ts.
  let t0 = 0;
  do {
    const t1 = min(t0 + blockTiles, nTile);
    for (let q0 = 0; q0 < nPanel; q0 += 4) {
      const q1 = min(q0 + 4, nPanel);
      for (let q = q0; q < q1; q++) {
        const panel = packed + <usize>q * panelBytes;
        const pb = bias ? bias + (<usize>q << 5) : 0;
        const yCol = y + (<usize>(q * PANEL) << 2);
        for (let t = t0; t < t1; t++) {
          down4x8(h + <usize>t * hTileBytes, panel, dFFPad, pb, yCol + <usize>(t << 2) * yStride, yStride, min(4, nRow - (t << 2)));
        }
      }
      if (!single || t1 < nTile) continue;
      if (q1 - q0 == 4) {
        down1x32(single, packed + <usize>q0 * panelBytes, panelBytes, dFFPad, bias ? bias + (<usize>q0 << 5) : 0, ySingle + (<usize>q0 << 5));
      } else {
        for (let q = q0; q < q1; q++) {
          down1x8(single, packed + <usize>q * panelBytes, dFFPad, bias ? bias + (<usize>q << 5) : 0, ySingle + (<usize>q << 5));
        }
      }
    }
    t0 = t1;
  } while (t0 < nTile);
}
