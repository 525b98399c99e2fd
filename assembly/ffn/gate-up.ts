// Gate/up projection of one expert, fused with its activation while the sums are fresh:
//   gated:   h[r, 4p .. 4p+3] = act(gate · x_r + gateBias, up · x_r + upBias) for panel p
//   ungated: h[r, 8p .. 8p+7] = act(up · x_r + upBias)
// The kernels (tile.ts) run row tiles × panels; here are the loops and the epilogue: activation, then a
// transposed store so h comes out in the layout the down projection reads (down.ts) — row tiles
// [dFFPad][4] (pack.ts), then the single row, if any, row-major.
// A call covers the panels [pBegin, pEnd): all of them in one pass, or one thread's share when the
// threaded path splits an expert by columns (experts.ts). Each h column is one panel's sums, whatever the
// range; a range that starts on a multiple of 4 panels keeps the single row's groups of four (row1x32)
// and its tail (row1x8) as they are in the whole pass, so every column goes through the same kernel.
import { gatedVec, isGated, storeRow, ungatedVec } from './activation';
import { GATED_COLS, PANEL, rowBlockTiles } from './layout';
import { hasSingleRow, tileCount, tileRows, transposeStore, transposeStorePair } from './pack';
import { acc4, q8Row1x32, q8Row1x8, quantizeRow, quantizeTiles } from './q8';
import { row1x32, row1x32Folded, row1x8, row1x8Folded } from './row1';
import { groupTileF32 } from './group-tile';
import { ACC, SIX_ROW_GROUPS, tile6x8Even, tile6x8Odd } from './tile';
import { firstTileByGroup, pairKernel, q8GroupKernel, tileKernel } from './tile-kernel';
import { foldScale, isQ8, panelAt, panelStep, Q8_BLOCK, widenPanel, WIDEN_MIN_TILES } from './weights';

/** Four rows of 8 sums at acc (ACC or a row of it) → act → hTile [.][4] at this panel's columns. */
function tileEpilogue(hTile: usize, acc: usize, act: i32, alpha: f32, limit: f32): void {
  if (isGated(act)) {
    transposeStore(
      gatedVec(act, v128.load(acc), v128.load(acc, 16), alpha, limit),
      gatedVec(act, v128.load(acc, 32), v128.load(acc, 48), alpha, limit),
      gatedVec(act, v128.load(acc, 64), v128.load(acc, 80), alpha, limit),
      gatedVec(act, v128.load(acc, 96), v128.load(acc, 112), alpha, limit), hTile,
    );
  } else {
    transposeStore(ungatedVec(act, v128.load(acc)), ungatedVec(act, v128.load(acc, 32)),
      ungatedVec(act, v128.load(acc, 64)), ungatedVec(act, v128.load(acc, 96)), hTile);
    transposeStore(ungatedVec(act, v128.load(acc, 16)), ungatedVec(act, v128.load(acc, 48)),
      ungatedVec(act, v128.load(acc, 80)), ungatedVec(act, v128.load(acc, 112)), hTile + 64);
  }
}

/** Two rows of 8 sums at acc → act → rows `lane`, `lane` + 1 of hTile at this panel's columns (a 6-row group's share of a tile). */
function halfTileEpilogue(hTile: usize, acc: usize, lane: usize, act: i32, alpha: f32, limit: f32): void {
  const dst = hTile + (lane << 2);
  if (isGated(act)) {
    transposeStorePair(gatedVec(act, v128.load(acc), v128.load(acc, 16), alpha, limit),
      gatedVec(act, v128.load(acc, 32), v128.load(acc, 48), alpha, limit), dst);
  } else {
    transposeStorePair(ungatedVec(act, v128.load(acc)), ungatedVec(act, v128.load(acc, 32)), dst);
    transposeStorePair(ungatedVec(act, v128.load(acc, 16)), ungatedVec(act, v128.load(acc, 48)), dst + 64);
  }
}

/**
 * Rows 0..1 × 8 sums of two panels at acc (ACC or ACC + 128 after tile-kernel.ts pairKernel) → act → hTile
 * at both panels' columns; rows 2..3 zero.
 */
function pairEpilogue(hTile: usize, acc: usize, act: i32, alpha: f32, limit: f32): void {
  const z = f32x4.splat(0);
  if (isGated(act)) {
    transposeStore(gatedVec(act, v128.load(acc), v128.load(acc, 16), alpha, limit),
      gatedVec(act, v128.load(acc, 32), v128.load(acc, 48), alpha, limit), z, z, hTile);
    transposeStore(gatedVec(act, v128.load(acc, 64), v128.load(acc, 80), alpha, limit),
      gatedVec(act, v128.load(acc, 96), v128.load(acc, 112), alpha, limit), z, z, hTile + 64);
  } else {
    transposeStore(ungatedVec(act, v128.load(acc)), ungatedVec(act, v128.load(acc, 32)), z, z, hTile);
    transposeStore(ungatedVec(act, v128.load(acc, 16)), ungatedVec(act, v128.load(acc, 48)), z, z, hTile + 64);
    transposeStore(ungatedVec(act, v128.load(acc, 64)), ungatedVec(act, v128.load(acc, 96)), z, z, hTile + 128);
    transposeStore(ungatedVec(act, v128.load(acc, 80)), ungatedVec(act, v128.load(acc, 112)), z, z, hTile + 192);
  }
}

/**
 * h = act(gate/up · x) for the rows of one expert, weights stored as W (weights.ts).
 * @param hidden [nToken, dModelK] (pad columns zero); a single row is read here in place
 * @param rows   [nRow] token of each row
 * @param tiles  [roundUp(nRow, 4), dModelK] scratch holding the row tiles, packed (pack.ts): [tileCount(nRow),
 *               dModelK, 4]; f16 scales them in place and writes the single row after them (foldScale)
 * @param packed this expert's panels, [nPanel, dModelK, 8] of W
 * @param scales this expert's int8 scales [nPanel, dModelK / Q8_BLOCK, 8] f16 (int8 only)
 * @param bias   this expert's panel biases [nPanel, 8], or 0
 * @param h      [roundUp(nRow, 4), dFFPad] out: row tiles, then the single row
 * @param kernelScratch  int8: 4 · (roundUp(nRow, 4) + 1) · dModelK bytes for the rows rounded to i16 (q8.ts);
 *               f16: 32 · dModelK bytes for one panel widened (weights.ts widenPanel), or 0 not to widen
 * @param pBegin, pEnd  the panels to compute: pBegin % 4 == 0, and pEnd % 4 == 0 or pEnd ≥ nPanel (0 and
 *               nPanel for all of h)
 */
export function gateUp<W>(
  hidden: usize, rows: usize, nRow: i32, dModelK: i32, tiles: usize, packed: usize, scales: usize, bias: usize,
  dFFPad: i32, h: usize, act: i32, alpha: f32, limit: f32, kernelScratch: usize, pBegin: i32, pEnd: i32,
): void {
  const rowBytes = <usize>dModelK << 2;
  const tileBytes = rowBytes << 2;
  const hTileBytes = <usize>dFFPad << 4;
  const panelBytes = <usize>dModelK * <usize>(sizeof<W>() << 3);
  const scaleBytes: usize = isQ8<W>() ? <usize>(dModelK / Q8_BLOCK) << 4 : 0;
  const cols = isGated(act) ? GATED_COLS : PANEL;
  // Gated panels give 4 h columns each (16 bytes of a row), ungated 8 (32 bytes).
  const colBytes = <usize>cols << 2;
  // The range's end, clamped to the expert's panels; p1 below must end each group where the whole pass does.
  const pStop = min(pEnd, dFFPad / cols);
  const nTile = tileCount(nRow);
  const single = hasSingleRow(nRow) ? hidden + <usize>load<i32>(rows + (<usize>(nRow - 1) << 2)) * rowBytes : 0;
  const hSingle = h + <usize>nTile * hTileBytes;
  // int8: the rows rounded to i16 (q8.ts) — the single row, then the tiles and their scales.
  const sx = kernelScratch + (<usize>dModelK << 1);
  const qt = sx + (((<usize>dModelK >> 3) + 15) & ~15);
  const qtBytes = <usize>dModelK << 3;
  const qs = qt + <usize>nTile * qtBytes;
  // f16 over several tiles: each panel widened once to its f32 values, then the f32 kernel (weights.ts
  // widenPanel). Otherwise the activations take F16_SCALE instead of the weights when they can (weights.ts
  // foldScale): the tiles in place (scratch), the single row into the tiles' scratch after them — it holds
  // roundUp(nRow, 4) rows, 3 more than the tiles when a single row is left. Widened panels are not folded:
  // the weights × 2⁻¹¹² of f16 subnormals are f32 subnormals, which the multiplies take slowly (measured,
  // M64 d1024 f512: 5.2 ms folded, 4.7 ms not, as f32).
  const wide = sizeof<W>() == 2 && kernelScratch != 0 && nTile >= WIDEN_MIN_TILES;
  // f32 panels (as stored, or f16 widened): tiles three at a time as two 6-row groups (tile.ts tile6x8).
  const six = SIX_ROW_GROUPS && !isQ8<W>() && (sizeof<W>() == 4 || wide);
  const blockTiles = rowBlockTiles(<i32>tileBytes, six);
  const foldTiles = !wide && foldScale<W>(tiles, nTile * dModelK * 4, tiles);
  const xFolded = tiles + <usize>nTile * tileBytes;
  const fold = single ? foldScale<W>(single, dModelK, xFolded) : false;
  const x1 = fold ? xFolded : single;
  // A last tile of three or two real rows leaves its padding rows out of the multiplies (tile-kernel.ts).
  // One of two rows (f32, f16 not widened) or of three (f32), and every tile of an expert of one or two
  // (f32), runs instead over each whole group's four panels at once (tile-kernel.ts firstTileByGroup) after
  // the other tiles, unless a 6-row group takes it. Measured here for the first of them (one process, alternating
  // builds), f32 pairs: 6 rows d1024 f512 0.66–0.75 → 0.52–0.63 ms; E8/k2/d2048 at T24 (six rows per expert)
  // 34–35 → 28.5–29.6 ms.
  if (isQ8<W>()) {
    if (single) quantizeRow(single, dModelK, kernelScratch, sx);
    quantizeTiles(tiles, nTile, dModelK, qt, qs);
  }
  // Row blocks of tiles (layout.ts), each against every panel; four panels at a time, so the single row
  // (in the last block) can stream them together.
  let t0 = 0;
  do {
    const t1 = min(t0 + blockTiles, nTile);
    for (let p0 = pBegin; p0 < pStop; p0 += 4) {
      const p1 = min(p0 + 4, pStop);
      const tEnd = firstTileByGroup<W>(nRow, nTile, t0, t1, p1 - p0 == 4, wide, six, dModelK);
      // int8, a whole group (interleaved, weights.ts): each tile against its four panels at once.
      const q8Group = isQ8<W>() && p1 - p0 == 4;
      for (let t = t0; q8Group && t < t1; t++) {
        q8GroupKernel(tileRows(nRow, t), qt + <usize>t * qtBytes, qs + (<usize>t * qtBytes >> 4), packed + <usize>p0 * panelBytes,
          scales + <usize>p0 * scaleBytes, scaleBytes, dModelK, bias ? bias + (<usize>p0 << 5) : 0);
        for (let j = 0; j < 4; j++) {
          tileEpilogue(h + <usize>((p0 + j) * cols << 4) + <usize>t * hTileBytes, acc4() + (<usize>j << 7), act, alpha, limit);
        }
      }
      for (let p = p0; p < p1 && tEnd > t0 && !q8Group; p++) {
        const panel = panelAt<W>(packed, p, dFFPad / cols, panelBytes);
        const step = panelStep<W>(p, dFFPad / cols);
        const ps = scales + <usize>p * scaleBytes;
        const pb = bias ? bias + (<usize>p << 5) : 0;
        const hCol = h + <usize>(p * cols << 4);
        if (wide) widenPanel(panel, step, dModelK, kernelScratch);
        let t = t0;
        if (six) {
          const f32Panel = wide ? kernelScratch : panel;
          for (; t + 3 <= t1; t += 3) {
            const tile = tiles + <usize>t * tileBytes;
            const hTile = hCol + <usize>t * hTileBytes;
            tile6x8Even(tile, f32Panel, dModelK, pb);
            tileEpilogue(hTile, ACC, act, alpha, limit);
            halfTileEpilogue(hTile + hTileBytes, ACC + 128, 0, act, alpha, limit);
            tile6x8Odd(tile + tileBytes, f32Panel, dModelK, pb);
            halfTileEpilogue(hTile + hTileBytes, ACC, 2, act, alpha, limit);
            tileEpilogue(hTile + 2 * hTileBytes, ACC + 64, act, alpha, limit);
          }
        }
        for (; t < tEnd; t++) {
          tileKernel<W>(tiles + <usize>t * tileBytes, tileRows(nRow, t), panel, step, dModelK, pb, wide ? kernelScratch : 0, foldTiles,
            qt + <usize>t * qtBytes, qs + (<usize>t * qtBytes >> 4), ps);
          tileEpilogue(hCol + <usize>t * hTileBytes, ACC, act, alpha, limit);
        }
      }
      for (let t = tEnd; t < t1; t++) {
        const tile = tiles + <usize>t * tileBytes;
        const panel = panelAt<W>(packed, p0, dFFPad / cols, panelBytes);
        const pb = bias ? bias + (<usize>p0 << 5) : 0;
        const hTile = h + <usize>t * hTileBytes + <usize>(p0 * cols << 4);
        const rows = tileRows(nRow, t);
        if (rows == 2) {
          pairKernel<W>(tile, panel, panelBytes, dModelK, pb, foldTiles);
          pairEpilogue(hTile, ACC, act, alpha, limit);
          pairEpilogue(hTile + <usize>(cols << 5), ACC + 128, act, alpha, limit);
        } else {
          groupTileF32(tile, rows, panel, panelBytes, dModelK, pb);
          for (let j = 0; j < 4; j++) tileEpilogue(hTile + <usize>(j * cols << 4), ACC + (<usize>j << 7), act, alpha, limit);
        }
      }
      if (!single || t1 < nTile) continue;
      if (p1 - p0 == 4) {
        if (isQ8<W>()) {
          q8Row1x32(kernelScratch, sx, packed + <usize>p0 * panelBytes, scales + <usize>p0 * scaleBytes, scaleBytes,
            dModelK, bias ? bias + (<usize>p0 << 5) : 0);
        } else {
          const rb = bias ? bias + (<usize>p0 << 5) : 0;
          if (fold) row1x32Folded(x1, packed + <usize>p0 * panelBytes, panelBytes, dModelK, rb);
          else row1x32<W>(x1, packed + <usize>p0 * panelBytes, panelBytes, dModelK, rb);
        }
        const hs = hSingle + <usize>p0 * colBytes;
        storeRow(act, v128.load(ACC), v128.load(ACC, 16), hs, alpha, limit);
        storeRow(act, v128.load(ACC, 32), v128.load(ACC, 48), hs + colBytes, alpha, limit);
        storeRow(act, v128.load(ACC, 64), v128.load(ACC, 80), hs + 2 * colBytes, alpha, limit);
        storeRow(act, v128.load(ACC, 96), v128.load(ACC, 112), hs + 3 * colBytes, alpha, limit);
      } else {
        for (let p = p0; p < p1; p++) {
          const pb = bias ? bias + (<usize>p << 5) : 0;
          if (isQ8<W>()) q8Row1x8(kernelScratch, sx, packed + <usize>p * panelBytes, scales + <usize>p * scaleBytes, dModelK, pb);
          else if (fold) row1x8Folded(x1, packed + <usize>p * panelBytes, dModelK, pb);
          else row1x8<W>(x1, packed + <usize>p * panelBytes, dModelK, pb);
          storeRow(act, v128.load(ACC), v128.load(ACC, 16), hSingle + <usize>p * colBytes, alpha, limit);
        }
      }
    }
    t0 = t1;
  } while (t0 < nTile);
}
