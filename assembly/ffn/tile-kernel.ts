// Which kernel one row tile of an expert runs against one panel, the same choice for both projections
// (gate-up.ts, down.ts); they differ only in the epilogue that reads ACC afterwards.
//   int8:            the integer tile kernels (q8.ts), on the tile rounded to i16 — a whole group of four
//                    panels at once (q8GroupKernel), a panel past the groups alone;
//   f16, widened:    the f32 kernels on the panel widened once for all tiles (weights.ts widenPanel);
//   f32:             the f32 kernels on the panel as stored;
//   f16, as stored:  the f16 kernels, on the tile scaled by F16_SCALE when it was (weights.ts foldScale).
// A last tile of three or two real rows leaves its padding rows out of the multiplies where a kernel for
// that many rows exists (tile3x8, tile2x8F32, q8Tile3x8, q8Tile2x8, q8Tile3x32, q8Tile2x32), and the tiles
// of a short expert take a whole group of panels at once where they can (firstTileByGroup: pairKernel,
// group-tile.ts groupTileF32).
// Every real row's sums are the 4-row kernel's, in the same order, so the choice never changes a bit of the
// output.
import { q8Tile2x32, q8Tile2x8, q8Tile3x32, q8Tile3x8, q8Tile4x32, q8Tile4x8 } from './q8';
import { pair2x32F32 } from './group-tile';
import { pair2x16, pair2x16Folded, tile2x8F32, tile3x8, tile3x8F32, tile3x8Folded, tile4x8, tile4x8Folded } from './tile';
import { tileRows } from './pack';
import { isQ8 } from './weights';

/**
 * ACC = the tile's rows (rows real ones: 4, 3 or 2) × one panel.
 * @param tile     the f32 row tile [K][4] (scaled by F16_SCALE when fold)
 * @param panel    the panel as stored (weights.ts panelAt), step bytes from one K step to the next
 * @param widened  f16: the panel widened to f32 [K][8], or 0 where it was not
 * @param qTile, qScales, scales  int8: the tile rounded to i16 and its scales (q8.ts), the panel's scales
 */
// @ts-ignore: decorator
@inline export function tileKernel<W>(
  tile: usize, rows: i32, panel: usize, step: usize, K: i32, bias: usize, widened: usize, fold: bool,
  qTile: usize, qScales: usize, scales: usize,
): void {
  if (isQ8<W>()) {
    if (rows == 3) q8Tile3x8(qTile, qScales, panel, scales, K, bias);
    else if (rows == 2) q8Tile2x8(qTile, qScales, panel, scales, K, bias);
    else q8Tile4x8(qTile, qScales, panel, scales, K, bias);
  } else if (sizeof<W>() == 4 || widened != 0) {
    const f32Panel = widened != 0 ? widened : panel;
    if (rows == 3) tile3x8F32(tile, f32Panel, K, bias);
    else if (rows == 2) tile2x8F32(tile, f32Panel, K, bias);
    else tile4x8<f32>(tile, f32Panel, K, bias, 32);
  } else if (fold) {
    if (rows == 3) tile3x8Folded(tile, panel, K, bias, step);
    else tile4x8Folded(tile, panel, K, bias, step);
  } else {
    if (rows == 3) tile3x8(tile, panel, K, bias, step);
    else tile4x8<W>(tile, panel, K, bias, step);
  }
}

/**
 * acc4() (q8.ts) = the tile's rows (rows real ones: 4, 3 or 2) × a whole interleaved group of int8 panels.
 * @param group   the group's start (weights.ts), its panels' scales scaleBytes apart from `scales`
 */
// @ts-ignore: decorator
@inline export function q8GroupKernel(rows: i32, qTile: usize, qScales: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  if (rows == 3) q8Tile3x32(qTile, qScales, group, scales, scaleBytes, K, bias);
  else if (rows == 2) q8Tile2x32(qTile, qScales, group, scales, scaleBytes, K, bias);
  else q8Tile4x32(qTile, qScales, group, scales, scaleBytes, K, bias);
}

/**
 * ACC = rows 0..1 of a tile × the four panels of a whole group (64 bytes a panel: row 0's 8 sums, then row
 * 1's): a last tile of two rows, f32 or f16 panels as stored (fold: the tile scaled by F16_SCALE). f32 takes
 * the four panels together (group-tile.ts pair2x32F32); f16 its group's two pairs in turn (pair2x16), panels
 * p + 2 and p + 3 starting 32 bytes into the interleaved group (weights.ts panelAt).
 * @param panel  the group's first panel p (weights.ts panelAt), p % 4 == 0
 * @param bias   [4][8], or 0
 */
// @ts-ignore: decorator
@inline export function pairKernel<W>(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize, fold: bool): void {
  const bias2 = bias ? bias + 64 : 0;
  if (sizeof<W>() == 4) {
    pair2x32F32(tile, panel, panelBytes, K, bias);
  } else if (fold) {
    pair2x16Folded(tile, panel, K, bias, 0);
    pair2x16Folded(tile, panel + 32, K, bias2, 128);
  } else {
    pair2x16(tile, panel, K, bias, 0);
    pair2x16(tile, panel + 32, K, bias2, 128);
  }
}

/**
 * The bytes of a group's four f32 panels up to which an expert of two tiles runs both over the group at once:
 * its second tile then reads the group from L2 (1 MB a core here) where panel by panel it would read each
 * panel right after the first tile did.
 */
const GROUP_IN_L2_BYTES: usize = 512 << 10;

/**
 * From which tile of a row block [t0, t1) the tiles run against a whole group of four panels at once rather
 * than panel by panel (t1: none): with f32 panels, every tile of the expert's last block when it has one or
 * two tiles (group-tile.ts groupTileF32 or pair2x32F32 by the tile's real rows) — the group's four weight
 * streams then come from DRAM together — where the group fits in L2; else the last tile, where it has
 * two real rows (f32 or f16 as stored: pairKernel) or three (f32). Only the expert's last tile can have fewer
 * than four real rows; int8 and widened f16 panels keep their own kernels, and where a 6-row group takes the
 * block (six: tile6x8 covers its tiles three at a time) it runs there. Measured here (createMoE f32 1t
 * against the last tile alone by group, one process, bit-identical): one expert d2048 f1408 of 5 / 6 / 8 rows
 * 1.23–1.29× / 1.25× / 1.11–1.16×; E8/k2/d2048/f1408 T24 1.06–1.16×, T32 1.07–1.09×.
 */
// @ts-ignore: decorator
@inline export function firstTileByGroup<W>(nRow: i32, nTile: i32, t0: i32, t1: i32, wholeGroup: bool, wide: bool, six: bool, K: i32): i32 {
  if (isQ8<W>() || wide || !wholeGroup || t1 != nTile || (six && (t1 - t0) % 3 == 0)) return t1;
  if (sizeof<W>() == 4 && nTile - t0 <= 2 && (<usize>K << 7) <= GROUP_IN_L2_BYTES) return t0;
  const rows = tileRows(nRow, nTile - 1);
  return rows == 2 || (rows == 3 && sizeof<W>() == 4) ? t1 - 1 : t1;
}
