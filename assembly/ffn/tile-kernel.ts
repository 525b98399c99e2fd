// Which kernel one row tile of an expert runs against one panel, the same choice for both projections
// (gate-up.ts, down.ts); they differ only in the epilogue that reads ACC afterwards.
//   int8:            the integer tile kernels (q8.ts), on the tile rounded to i16 — a whole group of four
//                    panels at once (q8GroupKernel), a panel past the groups alone;
//   f16, widened:    the f32 kernels on the panel widened once for all tiles (weights.ts widenPanel);
//   f32:             the f32 kernels on the panel as stored;
//   f16, as stored:  the f16 kernels, on the tile scaled by F16_SCALE when it was (weights.ts foldScale).
// A last tile of three or two real rows leaves its padding rows out of the multiplies where a kernel for
// that many rows exists (tile3x8, tile2x8F32, q8Tile3x8, q8Tile2x8, q8Tile3x32, q8Tile2x32), and in a whole
// group of panels takes the four at once where it can (lastTileByGroup: pairKernel, tile.ts tile3x32F32;
// tile4x32F32 for an expert of four rows).
// Every real row's sums are the 4-row kernel's, in the same order, so the choice never changes a bit of the
// output.
import { q8Tile2x32, q8Tile2x8, q8Tile3x32, q8Tile3x8, q8Tile4x32, q8Tile4x8 } from './q8';
import { pair2x16, pair2x16Folded, pair2x32F32, tile2x8F32, tile3x8, tile3x8F32, tile3x8Folded, tile4x8, tile4x8Folded } from './tile';
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
 * the four panels together (tile.ts pair2x32F32); f16 its group's two pairs in turn (pair2x16), panels
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

/** How the last tile of a row block runs over a whole group of four panels (lastTileByGroup): its real rows at once, or none. */
export const BY_PANEL = 0;
export const PAIRS = 2;
export const TRIPLES = 3;
export const QUADS = 4;

/**
 * How the last tile of a row block [t0, t1) runs against a whole group of four panels: panel by panel like
 * the others (BY_PANEL), or over the four panels at once — as pairs (pairKernel: two real rows, f32 or f16
 * panels as stored), triples (tile.ts tile3x32F32: three real rows, f32 panels) or quads (tile4x32F32: an
 * expert of four rows, f32 panels; a longer expert's tiles of four share each panel from cache, panel by
 * panel). Only the expert's last tile can have fewer than four real rows; int8 and widened f16 panels keep
 * their own kernels, and where a 6-row group takes the tile (six: the block runs tile6x8, which covers the
 * block's tiles three at a time) it runs there.
 */
// @ts-ignore: decorator
@inline export function lastTileByGroup<W>(nRow: i32, nTile: i32, t0: i32, t1: i32, wholeGroup: bool, wide: bool, six: bool): i32 {
  if (isQ8<W>() || wide || !wholeGroup || t1 != nTile || (six && (t1 - t0) % 3 == 0)) return BY_PANEL;
  const rows = tileRows(nRow, nTile - 1);
  if (rows == 2) return PAIRS;
  if (sizeof<W>() != 4) return BY_PANEL;
  if (rows == 3) return TRIPLES;
  return nRow == 4 ? QUADS : BY_PANEL;
}
