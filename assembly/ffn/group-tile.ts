// The f32 tile kernels that take the four panels of a whole group at once (tile-kernel.ts firstTileByGroup
// chooses them): rows 0..1, 0..2 or 0..3 of a packed tile (pack.ts) against panels p .. p + 3, K walked in
// chunks over the panels in turn with the sums parked in ACC between chunks, so the four weight streams
// advance together where tile.ts's kernels read one panel after another. Each column sums k in order from
// its bias, as in tile4x8: the same sums, bit for bit.
//   pair2x32F32: rows 0..1, ACC = panel p's row 0, row 1 (64 bytes), then p + 1's, p + 2's, p + 3's.
//   tile3x32F32, tile4x32F32: rows 0..2 / 0..3, ACC = panel p's rows 0..3 (128 bytes; three rows: row 3 the
//               bias, as tile3x8F32 leaves it), then p + 1's, p + 2's, p + 3's.
import { madd } from '../simd';
import { ACC, biasLo, FourRows, ThreeRows, TwoRows } from './tile';

/** Each of the four panels' bias [8] (or zeros) as the starting sums of `rows` rows, panel after panel in ACC. */
// @ts-ignore: decorator
@inline function biasRows(bias: usize, rows: usize): void {
  for (let j: usize = 0; j < 4; j++) {
    const lo = biasLo(bias, j << 5);
    const hi = biasLo(bias, (j << 5) + 16);
    const acc = ACC + j * (rows << 5);
    for (let r: usize = 0; r < rows << 5; r += 32) {
      v128.store(acc + r, lo);
      v128.store(acc + r, hi, 16);
    }
  }
}

// pair2x32 of f32: rows 0 and 1 of a packed tile × the four panels p .. p + 3 of a whole group (panelBytes
// apart). Against tile4x8, which multiplies two padding rows, half the multiply-adds per weight, so half the
// instructions per byte of weights. K is walked in chunks of PAIR_CHUNK steps, each chunk over panels
// p, p + 1 and then p + 2, p + 3, their sums parked in ACC in between: four weight streams advance side by
// side, as row1x32 reads them, where a pair of panels at a time left the second pair for a second pass.
// Measured here (scratch kernels, K 1024, weights from DRAM, alternating rounds): 13.4–14.0 → 17.9–19.4
// GB/s, the memory probe 21; in L2 41 → 44. Chunks of 16 or 48 steps read 18.4 and 17.0; the same chunking
// of f16 pairs (pair2x16) gained nothing from DRAM, where they are bound by their decode. Each column sums
// k in order from its bias, as in tile4x8: bit-identical sums. ACC = rows 0..1 × (cols 0..3, 4..7) of
// panel p, then of p + 1, p + 2, p + 3 (each panel 64 bytes: row 0, row 1).
const PAIR_CHUNK: usize = 32;

/** Rows 0..1 × panels at p and p + panelBytes over the tile steps [t, tEnd), continuing the sums at acc. */
// @ts-ignore: decorator
@inline function pairChunkF32(acc: usize, t: usize, tEnd: usize, p: usize, panelBytes: usize): void {
  let a0 = v128.load(acc), a1 = v128.load(acc, 16), b0 = v128.load(acc, 32), b1 = v128.load(acc, 48);
  let c0 = v128.load(acc, 64), c1 = v128.load(acc, 80), d0 = v128.load(acc, 96), d1 = v128.load(acc, 112);
  let q = p + panelBytes;
  while (t < tEnd) {
    const x0 = v128.load32_splat(t);
    const x1 = v128.load32_splat(t, 4);
    let w0 = v128.load(p);
    let w1 = v128.load(p, 16);
    a0 = madd(x0, w0, a0); a1 = madd(x0, w1, a1);
    b0 = madd(x1, w0, b0); b1 = madd(x1, w1, b1);
    w0 = v128.load(q);
    w1 = v128.load(q, 16);
    c0 = madd(x0, w0, c0); c1 = madd(x0, w1, c1);
    d0 = madd(x1, w0, d0); d1 = madd(x1, w1, d1);
    t += 16;
    p += 32;
    q += 32;
  }
  v128.store(acc, a0); v128.store(acc, a1, 16); v128.store(acc, b0, 32); v128.store(acc, b1, 48);
  v128.store(acc, c0, 64); v128.store(acc, c1, 80); v128.store(acc, d0, 96); v128.store(acc, d1, 112);
}

/**
 * @param tile   [K][4] packed rows (rows 2 and 3 unread)
 * @param panel  panel p of four consecutive f32 panels [K][8], panelBytes apart
 * @param bias   [4][8], or 0
 */
export function pair2x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  tileGroupF32<TwoRows>(tile, panel, panelBytes, K, bias);
}

// tile3x32 / tile4x32 of f32: rows 0..2 (or 0..3) of a packed tile × the four panels of a whole group, K in
// chunks of GROUP_CHUNK steps, each chunk over the panels in turn, their sums parked in ACC between chunks —
// the four weight streams advance together, as in pair2x32F32, where tile3x8F32 / tile4x8 read the panels
// one after the other. For tiles whose panels come from DRAM: those of an expert of one or two tiles, or
// the last tile of three rows of a longer one (tile-kernel.ts firstTileByGroup). Measured
// here (scratch kernels, K 1024, weights from DRAM, alternating rounds): three rows 14.2 → 16.7 GB/s, four
// 12.0 → 13.8, the memory probe 23–26; in L2 unchanged (27, 21). Chunks of 32 steps read 16.1 and 13.1 (in the
// library, one expert of three rows d2048 f1408: 0.96× the time of 16). One step of K per pass: with two, the
// four-row kernel ran 15 GB/s in L2. Each column sums k in order from its bias, as in tile4x8: bit-identical
// sums. ACC = panel p's rows 0..3 × (cols 0..3, 4..7) (three rows: row 3 the bias, as tile3x8F32 leaves it),
// then p + 1's, p + 2's and p + 3's (128 bytes each).
const GROUP_CHUNK: usize = 16;

/** Rows 0..2 or 0..3 (R) × the panel at p over the tile steps [t, tEnd), continuing the sums at acc. */
// @ts-ignore: decorator
@inline function groupChunkF32<R>(acc: usize, t: usize, tEnd: usize, p: usize): void {
  let a0 = v128.load(acc), a1 = v128.load(acc, 16), b0 = v128.load(acc, 32), b1 = v128.load(acc, 48);
  let c0 = v128.load(acc, 64), c1 = v128.load(acc, 80);
  let d0 = f32x4.splat(0), d1 = d0;
  if (isInteger<R>()) {
    d0 = v128.load(acc, 96);
    d1 = v128.load(acc, 112);
  }
  while (t < tEnd) {
    const w0 = v128.load(p);
    const w1 = v128.load(p, 16);
    let x = v128.load32_splat(t);
    a0 = madd(x, w0, a0); a1 = madd(x, w1, a1);
    x = v128.load32_splat(t, 4);
    b0 = madd(x, w0, b0); b1 = madd(x, w1, b1);
    x = v128.load32_splat(t, 8);
    c0 = madd(x, w0, c0); c1 = madd(x, w1, c1);
    if (isInteger<R>()) {
      x = v128.load32_splat(t, 12);
      d0 = madd(x, w0, d0); d1 = madd(x, w1, d1);
    }
    t += 16;
    p += 32;
  }
  v128.store(acc, a0); v128.store(acc, a1, 16); v128.store(acc, b0, 32); v128.store(acc, b1, 48);
  v128.store(acc, c0, 64); v128.store(acc, c1, 80);
  if (isInteger<R>()) {
    v128.store(acc, d0, 96);
    v128.store(acc, d1, 112);
  }
}

/** The four panels' sums of R's rows (TwoRows: pairChunkF32's chunks; ThreeRows, FourRows: groupChunkF32's) into ACC. */
// @ts-ignore: decorator
@inline function tileGroupF32<R>(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  const two = sizeof<R>() == 8;
  const chunk: usize = two ? PAIR_CHUNK : GROUP_CHUNK;
  biasRows(bias, two ? 2 : 4);
  const end = tile + (<usize>K << 4);
  let t = tile;
  let p = panel;
  while (t < end) {
    const tEnd = min(t + (chunk << 4), end);
    if (two) {
      pairChunkF32(ACC, t, tEnd, p, panelBytes);
      pairChunkF32(ACC + 128, t, tEnd, p + (panelBytes << 1), panelBytes);
    } else {
      for (let j: usize = 0; j < 4; j++) groupChunkF32<R>(ACC + (j << 7), t, tEnd, p + j * panelBytes);
    }
    t = tEnd;
    p += chunk << 5;
  }
}

/**
 * @param tile   [K][4] packed rows (row 3 unread)
 * @param panel  panel p of four consecutive f32 panels [K][8], panelBytes apart
 * @param bias   [4][8], or 0
 */
export function tile3x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  tileGroupF32<ThreeRows>(tile, panel, panelBytes, K, bias);
}

/** tile3x32F32 with all four rows. */
export function tile4x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  tileGroupF32<FourRows>(tile, panel, panelBytes, K, bias);
}
