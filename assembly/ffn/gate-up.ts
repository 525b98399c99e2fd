// Gate/up projection of one expert, fused with its activation while the sums are in registers:
//   gated:   h[r, 4p .. 4p+3] = act(gate · x_r + gateBias, up · x_r + upBias) for panel p
//   ungated: h[r, 8p .. 8p+7] = act(up · x_r + upBias)
// Micro-kernels (panels: layout.ts; row tiles: pack.ts):
//   f32-gateup-4x8: a packed 4-row tile × one panel, 8 f32x4 accumulators, 4 load-splats at fixed offsets
//                   and 2 panel loads per step of K; the result is written transposed, as h's row tile;
//   f32-gateup-1x8: one row read in place (the tail, and T = 1 decode), K unrolled by 4 over four
//                   accumulator pairs so consecutive madds do not wait on each other.
// h comes out in the layout the down projection reads (down.ts): full row tiles [dFFPad][4], then the
// tail rows row-major — the same nRow · dFFPad floats as a row-major h.
import { madd } from '../simd';
import { gatedVec, isGated, storeRow, ungatedVec } from './activation';
import { GATED_COLS, PANEL } from './layout';
import { transposeStore } from './pack';

/** tile [K][4] × panel [K][8] (+ bias [8]) → act → hTile [.][4] at this panel's columns. */
function gateUp4x8(tile: usize, panel: usize, K: i32, bias: usize, hTile: usize, act: i32, alpha: f32, limit: f32): void {
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
  if (isGated(act)) {
    transposeStore(
      gatedVec(act, c00, c01, alpha, limit), gatedVec(act, c10, c11, alpha, limit),
      gatedVec(act, c20, c21, alpha, limit), gatedVec(act, c30, c31, alpha, limit), hTile,
    );
  } else {
    transposeStore(ungatedVec(act, c00), ungatedVec(act, c10), ungatedVec(act, c20), ungatedVec(act, c30), hTile);
    transposeStore(ungatedVec(act, c01), ungatedVec(act, c11), ungatedVec(act, c21), ungatedVec(act, c31), hTile + 64);
  }
}

/** x [K] × panel [K][8] (+ bias [8]) → act → h [4 or 8]; K % 4 == 0. */
function gateUp1x8(x: usize, panel: usize, K: i32, bias: usize, h: usize, act: i32, alpha: f32, limit: f32): void {
  let c0 = f32x4.splat(0), e0 = f32x4.splat(0);
  if (bias) {
    c0 = v128.load(bias);
    e0 = v128.load(bias, 16);
  }
  let c1 = f32x4.splat(0), e1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), e2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), e3 = f32x4.splat(0);
  let p = panel;
  const end = x + (<usize>K << 2);
  while (x < end) {
    const x0 = v128.load32_splat(x);
    const x1 = v128.load32_splat(x, 4);
    const x2 = v128.load32_splat(x, 8);
    const x3 = v128.load32_splat(x, 12);
    c0 = madd(x0, v128.load(p), c0); e0 = madd(x0, v128.load(p, 16), e0);
    c1 = madd(x1, v128.load(p, 32), c1); e1 = madd(x1, v128.load(p, 48), e1);
    c2 = madd(x2, v128.load(p, 64), c2); e2 = madd(x2, v128.load(p, 80), e2);
    c3 = madd(x3, v128.load(p, 96), c3); e3 = madd(x3, v128.load(p, 112), e3);
    x += 16;
    p += 128;
  }
  storeRow(act, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), h, alpha, limit);
}

/**
 * h = act(gate/up · x) for the rows of one expert.
 * @param hidden [nToken, dModelK] (pad columns zero); tail rows are read here in place
 * @param rows   [nRow] token of each row
 * @param tiles  [nRow / 4, dModelK, 4] the full row tiles, packed (pack.ts)
 * @param packed this expert's panels, [nPanel, dModelK, 8]
 * @param bias   this expert's panel biases [nPanel, 8], or 0
 * @param h      [nRow, dFFPad] out, as row tiles then tail rows
 */
export function gateUp(
  hidden: usize, rows: usize, nRow: i32, dModelK: i32, tiles: usize, packed: usize, bias: usize,
  dFFPad: i32, h: usize, act: i32, alpha: f32, limit: f32,
): void {
  const rowBytes = <usize>dModelK << 2;
  const tileBytes = rowBytes << 2;
  const hRowBytes = <usize>dFFPad << 2;
  const hTileBytes = hRowBytes << 2;
  const panelBytes = rowBytes << 3;
  const cols = isGated(act) ? GATED_COLS : PANEL;
  const nPanel = dFFPad / cols;
  const nTile = nRow >> 2;
  for (let p = 0; p < nPanel; p++) {
    const panel = packed + <usize>p * panelBytes;
    const pb = bias ? bias + (<usize>p << 5) : 0;
    const col = <usize>(p * cols);
    for (let t = 0; t < nTile; t++) {
      gateUp4x8(tiles + <usize>t * tileBytes, panel, dModelK, pb, h + <usize>t * hTileBytes + (col << 4), act, alpha, limit);
    }
    for (let r = nTile << 2; r < nRow; r++) {
      const x = hidden + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes;
      gateUp1x8(x, panel, dModelK, pb, h + <usize>r * hRowBytes + (col << 2), act, alpha, limit);
    }
  }
}
