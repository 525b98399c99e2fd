// Down projection of one expert: y[r, m] = down[m] · h_r + downBias[m], over pre-packed panels (layout.ts)
// and h as row tiles then the single row (gate-up.ts writes it so; gemm.ts packs a plain A so). The
// kernels are tile.ts's; the epilogue stores 8 sums per row. A zero-padded last tile stores only its real
// rows. y rows have stride dModelPad = roundUp(dModel, 8), so every store is a full panel width.
// A call covers the output panels [qBegin, qEnd), all or one thread's share, as gate-up.ts does: every
// y column is one panel's sums, through the same kernel when the range starts on a multiple of 4 panels.
import { PANEL, rowBlockTiles } from './layout';
import { hasSingleRow, tileCount, tileRows } from './pack';
import { acc4, q8Row1x32, q8Row1x8, quantizeRow, quantizeTiles } from './q8';
import { row1x32, row1x32Folded, row1x8, row1x8Folded } from './row1';
import { groupTileF32 } from './group-tile';
import { ACC, SIX_ROW_GROUPS, tile6x8Even, tile6x8Odd } from './tile';
import { firstTileByGroup, pairKernel, q8GroupKernel, tileKernel } from './tile-kernel';
import { foldScale, isQ8, panelAt, panelStep, Q8_BLOCK, widenPanel, WIDEN_MIN_TILES } from './weights';

/**
 * ACC (rows 0..3, or 0..5 after tile6x8, × 8 sums), or acc laid out as it (q8.ts acc4), → the first nValid
 * rows at y, y + yStride, …
 */
function tileStore(y: usize, yStride: usize, nValid: i32, acc: usize = ACC): void {
  for (let r = 0; r < nValid; r++) {
    v128.store(y, v128.load(acc + (<usize>r << 5)));
    v128.store(y, v128.load(acc + (<usize>r << 5), 16), 16);
    y += yStride;
  }
}

/** ACC after tile-kernel.ts pairKernel → rows 0..1 of the group's panels q .. q + 3 at yCol (32 bytes of y each). */
function pairStore(yCol: usize, yStride: usize): void {
  for (let at: usize = 0; at < 256; at += 64) {
    memory.copy(yCol + (at >> 1), ACC + at, 32);
    memory.copy(yCol + yStride + (at >> 1), ACC + at + 32, 32);
  }
}

/**
 * y = down · h (+ bias) for the rows of one expert, weights stored as W (weights.ts).
 * @param h      row tiles [tileCount(nRow), dFFPad, 4] (the last one zero-padded when partial), then the
 *               single row [dFFPad] when nRow % 4 == 1 (pack.ts); dFFPad % 4 == 0 (% Q8_BLOCK for int8)
 * @param packed down panels of this expert, [dModelPad / 8, dFFPad, 8] of W
 * @param scales this expert's int8 scales [dModelPad / 8, dFFPad / Q8_BLOCK, 8] f16 (int8 only)
 * @param bias   [dModelPad], or 0
 * @param y      [nRow, dModelPad] out, row-major
 * @param kernelScratch  int8: 4 · (roundUp(nRow, 4) + 1) · dFFPad bytes for the rows rounded to i16 (q8.ts);
 *               f16: 32 · dFFPad bytes for one panel widened (weights.ts widenPanel), or 0 not to widen
 * @param qBegin, qEnd  the output panels to compute: qBegin % 4 == 0, and qEnd % 4 == 0 or qEnd ≥ dModelPad / 8
 * @param hFold  f16 only: where h scaled by F16_SCALE goes (foldScale), as large as h: h itself when this
 *               call owns h, a buffer of its own when other threads read the same h
 */
export function down<W>(
  h: usize, nRow: i32, dFFPad: i32, packed: usize, scales: usize, bias: usize, dModelPad: i32, y: usize, kernelScratch: usize,
  qBegin: i32, qEnd: i32, hFold: usize,
): void {
  const hTileBytes = <usize>dFFPad << 4;
  const yStride = <usize>dModelPad << 2;
  const panelBytes = <usize>dFFPad * <usize>(sizeof<W>() << 3);
  const scaleBytes: usize = isQ8<W>() ? <usize>(dFFPad / Q8_BLOCK) << 4 : 0;
  // The range's end, clamped to the panels; q1 below must end each group where the whole pass does.
  const qStop = min(qEnd, dModelPad / PANEL);
  const nTile = tileCount(nRow);
  const hasSingle = hasSingleRow(nRow);
  const ySingle = y + <usize>(nRow - 1) * yStride;
  // int8: the rows rounded to i16 (q8.ts), as in gate-up.ts.
  const sx = kernelScratch + (<usize>dFFPad << 1);
  const qt = sx + (((<usize>dFFPad >> 3) + 15) & ~15);
  const qtBytes = <usize>dFFPad << 3;
  const qs = qt + <usize>nTile * qtBytes;
  // f16 over several tiles: each panel widened, as in gate-up.ts. Otherwise F16_SCALE into h instead of the
  // weights when it can (weights.ts foldScale): the tiles and the single row after them, one decision for
  // all, into hFold. (Widened, folded or not, the products are the same.)
  const wide = sizeof<W>() == 2 && kernelScratch != 0 && nTile >= WIDEN_MIN_TILES;
  // f32 panels (as stored, or f16 widened): tiles three at a time as two 6-row groups, as in gate-up.ts.
  const six = SIX_ROW_GROUPS && !isQ8<W>() && (sizeof<W>() == 4 || wide);
  const blockTiles = rowBlockTiles(<i32>hTileBytes, six);
  const fold = !wide && foldScale<W>(h, (nTile * 4 + (hasSingle ? 1 : 0)) * dFFPad, hFold);
  const hk = fold ? hFold : h;
  const single = hasSingle ? hk + <usize>nTile * hTileBytes : 0;
  // Tiles over a whole group at once, and a last tile's padding rows left out, as in gate-up.ts.
  if (isQ8<W>()) {
    if (single) quantizeRow(single, dFFPad, kernelScratch, sx);
    quantizeTiles(h, nTile, dFFPad, qt, qs);
  }
  // Row blocks and panel groups as in gate-up.ts.
  let t0 = 0;
  do {
    const t1 = min(t0 + blockTiles, nTile);
    for (let q0 = qBegin; q0 < qStop; q0 += 4) {
      const q1 = min(q0 + 4, qStop);
      const tEnd = firstTileByGroup<W>(nRow, nTile, t0, t1, q1 - q0 == 4, wide, six, dFFPad);
      // int8, a whole group (interleaved, weights.ts): each tile against its four panels at once.
      const q8Group = isQ8<W>() && q1 - q0 == 4;
      for (let t = t0; q8Group && t < t1; t++) {
        q8GroupKernel(tileRows(nRow, t), qt + <usize>t * qtBytes, qs + (<usize>t * qtBytes >> 4), packed + <usize>q0 * panelBytes,
          scales + <usize>q0 * scaleBytes, scaleBytes, dFFPad, bias ? bias + (<usize>q0 << 5) : 0);
        for (let j = 0; j < 4; j++) {
          tileStore(y + (<usize>((q0 + j) * PANEL) << 2) + <usize>(t << 2) * yStride, yStride, tileRows(nRow, t), acc4() + (<usize>j << 7));
        }
      }
      for (let q = q0; q < q1 && tEnd > t0 && !q8Group; q++) {
        const panel = panelAt<W>(packed, q, dModelPad / PANEL, panelBytes);
        const step = panelStep<W>(q, dModelPad / PANEL);
        const ps = scales + <usize>q * scaleBytes;
        const pb = bias ? bias + (<usize>q << 5) : 0;
        const yCol = y + (<usize>(q * PANEL) << 2);
        if (wide) widenPanel(panel, step, dFFPad, kernelScratch);
        let t = t0;
        if (six) {
          const f32Panel = wide ? kernelScratch : panel;
          for (; t + 3 <= t1; t += 3) {
            const r = t << 2;
            tile6x8Even(hk + <usize>t * hTileBytes, f32Panel, dFFPad, pb);
            tileStore(yCol + <usize>r * yStride, yStride, min(6, nRow - r));
            tile6x8Odd(hk + <usize>(t + 1) * hTileBytes, f32Panel, dFFPad, pb);
            tileStore(yCol + <usize>(r + 6) * yStride, yStride, min(6, nRow - r - 6));
          }
        }
        for (; t < tEnd; t++) {
          // hk is h itself unless f16 tiles were folded (fold), so every kernel takes its tiles from hk.
          tileKernel<W>(hk + <usize>t * hTileBytes, tileRows(nRow, t), panel, step, dFFPad, pb, wide ? kernelScratch : 0, fold,
            qt + <usize>t * qtBytes, qs + (<usize>t * qtBytes >> 4), ps);
          tileStore(yCol + <usize>(t << 2) * yStride, yStride, tileRows(nRow, t));
        }
      }
      for (let t = tEnd; t < t1; t++) {
        const tile = hk + <usize>t * hTileBytes;
        const panel = panelAt<W>(packed, q0, dModelPad / PANEL, panelBytes);
        const pb = bias ? bias + (<usize>q0 << 5) : 0;
        const yRows = y + <usize>(t << 2) * yStride + (<usize>(q0 * PANEL) << 2);
        const rows = tileRows(nRow, t);
        if (rows == 2) {
          pairKernel<W>(tile, panel, panelBytes, dFFPad, pb, fold);
          pairStore(yRows, yStride);
        } else {
          groupTileF32(tile, rows, panel, panelBytes, dFFPad, pb);
          for (let j = 0; j < 4; j++) tileStore(yRows + (<usize>j << 5), yStride, rows, ACC + (<usize>j << 7));
        }
      }
      if (!single || t1 < nTile) continue;
      if (q1 - q0 == 4) {
        if (isQ8<W>()) {
          q8Row1x32(kernelScratch, sx, packed + <usize>q0 * panelBytes, scales + <usize>q0 * scaleBytes, scaleBytes,
            dFFPad, bias ? bias + (<usize>q0 << 5) : 0);
        } else {
          const rb = bias ? bias + (<usize>q0 << 5) : 0;
          if (fold) row1x32Folded(single, packed + <usize>q0 * panelBytes, panelBytes, dFFPad, rb);
          else row1x32<W>(single, packed + <usize>q0 * panelBytes, panelBytes, dFFPad, rb);
        }
        memory.copy(ySingle + (<usize>q0 << 5), ACC, 128);
      } else {
        for (let q = q0; q < q1; q++) {
          const pb = bias ? bias + (<usize>q << 5) : 0;
          if (isQ8<W>()) q8Row1x8(kernelScratch, sx, packed + <usize>q * panelBytes, scales + <usize>q * scaleBytes, dFFPad, pb);
          else if (fold) row1x8Folded(single, packed + <usize>q * panelBytes, dFFPad, pb);
          else row1x8<W>(single, packed + <usize>q * panelBytes, dFFPad, pb);
          memory.copy(ySingle + (<usize>q << 5), ACC, 32);
        }
      }
    }
    t0 = t1;
  } while (t0 < nTile);
}
