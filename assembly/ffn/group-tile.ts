// The f32 tile kernels that take the four panels of a whole group at once (tile-kernel.ts firstTileByGroup
// chooses them): rows 0..1, 0..2 or 0..3 of a packed tile (pack.ts) against panels p .. p + 3, K walked in
// chunks over the panels in turn with the sums parked in ACC between chunks, so the four weight streams
// advance together where tile.ts's kernels read one panel after another. Each column sums k in order from
// its bias, as in tile4x8: the same sums, bit for bit, whichever kernel runs.
//   pair2x32F32:         rows 0..1, ACC = panel p's row 0, row 1 (64 bytes), then p + 1's, p + 2's, p + 3's.
//   tile4x32F32:         rows 0..3 as two pairs of rows, ACC = panel p's rows 0..3 (128 bytes), then p + 1's,
//                        p + 2's, p + 3's.
//   tile3x32F32:         rows 0..1 in pairs of panels, then row 2 over all four; ACC as tile4x32F32's with
//                        row 3 the bias (as tile3x8F32 leaves it).
import { madd } from '../simd';
import { ACC, biasLo } from './tile';

// Why pairs of rows. Two rows over two panels spend 22 operations on a step of K's 64 bytes of weights, four
// rows over one panel 22 on 32 bytes: with half the operations per cache line, the out-of-order window reaches
// further ahead in the weight streams. Measured here (scratch kernels, K 1024 and 2048, weights from DRAM,
// alternating rounds): four rows 13–14 GB/s in 4-row chunks, 17–18.4 as two pairs of rows over each chunk (the
// second pair from L1), the 2-row kernel alone 21–26; in L2 both forms of four rows run 23–24. Chunks of 16
// steps did best for four rows (32: 16.9, 64: 14.5; 8 the same as 16 at K 1024). Three rows from DRAM: 14.2 →
// 18.1 GB/s as a pair and a single row over the four panels, one step per pass; with two steps per pass for
// the single row (rowChunkF32) 16.0 / 20.1 GB/s at K 1024 / 2048 where three rows a panel at a time read 11.6 /
// 12.1, and 28–30 in L2 as those do (they ran the 3-row tiles of groups already in L2 until then). The 2-row
// kernel's chunks of 32 steps over its two pairs of panels in turn read 17.9–19.4 GB/s where one pair of panels
// after the other over the whole K read 13.4–14.0 (when it was written, same method). In the library (createMoE
// f32 1t against the 4-row chunks, one process, bit-identical): one expert d2048 f1408 of 3 / 4 / 7 / 8 rows
// 1.18× / 1.25× / 1.17× / 1.18×, E8/k2/d2048/f1408 T8 1.18×, T16 1.27×, E32/k4/d1024/f512 T16 1.10×, T64
// 1.01×; the relaxed build 1.15–1.37×. Running the whole-group tile first, so that every tile after it reads
// the group from L2, gained nothing for experts of three or more tiles (11 rows 0.96×, E8/k2 T64 0.96×).
// Why four panels in flight and not one stream: the same kernels over a group stored chunk-blocked (per 32
// steps, panel 0's 1 KiB, then 1's, 2's, 3's, so that the reads run forward through memory) read DRAM at half
// the speed (2 rows 12.4–12.5 against 19.0–24.1 GB/s): with this much arithmetic per byte, it is the hardware
// prefetcher's streams, one per panel, that keep the weights coming. Also measured slower or the same: touch-
// ahead loads, row 1 a chunk behind row 0, two single-row passes per chunk, panels staggered off their pages.

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

/** Steps of K per chunk: of the 2-row kernel, and of the 3- and 4-row ones. */
const PAIR_CHUNK: usize = 32;
const GROUP_CHUNK: usize = 16;
/** Bytes from one panel's sums to the next panel's in ACC: two rows' (pair2x32F32), four rows' (the others). */
const PAIR_SUMS: usize = 64;
const TILE_SUMS: usize = 128;

/**
 * The two rows at t and t + 4 bytes (of a [K][4] tile) × panels p and p + panelBytes over the tile steps
 * [t, tEnd), continuing the sums at acc (p's: row r at acc + 32 r) and at acc + next (the second panel's).
 */
// @ts-ignore: decorator
@inline function pairChunkF32(acc: usize, next: usize, t: usize, tEnd: usize, p: usize, panelBytes: usize): void {
  const accQ = acc + next;
  let a0 = v128.load(acc), a1 = v128.load(acc, 16), b0 = v128.load(acc, 32), b1 = v128.load(acc, 48);
  let c0 = v128.load(accQ), c1 = v128.load(accQ, 16), d0 = v128.load(accQ, 32), d1 = v128.load(accQ, 48);
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
  v128.store(accQ, c0); v128.store(accQ, c1, 16); v128.store(accQ, d0, 32); v128.store(accQ, d1, 48);
}

/** pairChunkF32 over the four panels from p: p and p + 1, then p + 2 and p + 3 (their sums from acc + 2 next). */
// @ts-ignore: decorator
@inline function pairOverGroupF32(acc: usize, next: usize, t: usize, tEnd: usize, p: usize, panelBytes: usize): void {
  pairChunkF32(acc, next, t, tEnd, p, panelBytes);
  pairChunkF32(acc + 2 * next, next, t, tEnd, p + (panelBytes << 1), panelBytes);
}

/**
 * The row at t × the four panels from p over the tile steps [t, tEnd) (an even number of them), continuing
 * panel j's sums at acc + 128 j. Two steps of K per pass from one pointer, the other panels at offsets from
 * it, as row1.ts's row1x32: with one step per pass the 3-row tile ran 19–21 GB/s in L2, with two 28–30, as fast
 * as three rows a panel at a time (the form it replaced for groups already in L2).
 */
// @ts-ignore: decorator
@inline function rowChunkF32(acc: usize, t: usize, tEnd: usize, p: usize, panelBytes: usize): void {
  let a0 = v128.load(acc), a1 = v128.load(acc, 16), b0 = v128.load(acc, 128), b1 = v128.load(acc, 144);
  let c0 = v128.load(acc, 256), c1 = v128.load(acc, 272), d0 = v128.load(acc, 384), d1 = v128.load(acc, 400);
  const o1 = panelBytes;
  const o2 = panelBytes << 1;
  const o3 = o1 + o2;
  while (t < tEnd) {
    let x = v128.load32_splat(t);
    a0 = madd(x, v128.load(p), a0); a1 = madd(x, v128.load(p, 16), a1);
    b0 = madd(x, v128.load(p + o1), b0); b1 = madd(x, v128.load(p + o1, 16), b1);
    c0 = madd(x, v128.load(p + o2), c0); c1 = madd(x, v128.load(p + o2, 16), c1);
    d0 = madd(x, v128.load(p + o3), d0); d1 = madd(x, v128.load(p + o3, 16), d1);
    x = v128.load32_splat(t, 16);
    p += 32;
    a0 = madd(x, v128.load(p), a0); a1 = madd(x, v128.load(p, 16), a1);
    b0 = madd(x, v128.load(p + o1), b0); b1 = madd(x, v128.load(p + o1, 16), b1);
    c0 = madd(x, v128.load(p + o2), c0); c1 = madd(x, v128.load(p + o2, 16), c1);
    d0 = madd(x, v128.load(p + o3), d0); d1 = madd(x, v128.load(p + o3, 16), d1);
    t += 32;
    p += 32;
  }
  v128.store(acc, a0); v128.store(acc, a1, 16); v128.store(acc, b0, 128); v128.store(acc, b1, 144);
  v128.store(acc, c0, 256); v128.store(acc, c1, 272); v128.store(acc, d0, 384); v128.store(acc, d1, 400);
}

/** What a whole-group kernel multiplies per chunk (type markers, as tile.ts's FourRows, ThreeRows, TwoRows). */
type Pair = f32; // rows 0..1, their sums 64 bytes a panel (the float marker)
type TwoPairs = i32; // rows 0..1, then 2..3
type PairAndRow = i64; // rows 0..1, then row 2 over all four panels

/** The bias, then K in chunks over the four panels from `panel`, each chunk as the marker R says. */
// @ts-ignore: decorator
@inline function groupKernelF32<R>(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  const pair = isFloat<R>();
  biasRows(bias, pair ? 2 : 4);
  const chunk: usize = pair ? PAIR_CHUNK : GROUP_CHUNK;
  const end = tile + (<usize>K << 4);
  let p = panel;
  for (let t = tile; t < end; p += chunk << 5) {
    const tEnd = min(t + (chunk << 4), end);
    if (pair) {
      pairOverGroupF32(ACC, PAIR_SUMS, t, tEnd, p, panelBytes);
    } else {
      pairOverGroupF32(ACC, TILE_SUMS, t, tEnd, p, panelBytes);
      if (sizeof<R>() == 4) pairOverGroupF32(ACC + 64, TILE_SUMS, t + 8, tEnd + 8, p, panelBytes);
      else rowChunkF32(ACC + 64, t + 8, tEnd + 8, p, panelBytes);
    }
    t = tEnd;
  }
}

/**
 * @param tile   [K][4] packed rows (rows 2 and 3 unread)
 * @param panel  panel p of four consecutive f32 panels [K][8], panelBytes apart
 * @param K      steps of the reduction, a multiple of 4 (layout.ts): every chunk has an even number
 * @param bias   [4][8], or 0
 */
export function pair2x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  groupKernelF32<Pair>(tile, panel, panelBytes, K, bias);
}

/** Rows 0..3 of the tile × the four panels (arguments as pair2x32F32's): rows 0..1, then 2..3 from L1, each chunk. */
export function tile4x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  groupKernelF32<TwoPairs>(tile, panel, panelBytes, K, bias);
}

/** Rows 0..2 × the four panels: rows 0..1 over pairs of panels, then row 2 over all four (row 3 of ACC: the bias). */
export function tile3x32F32(tile: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  groupKernelF32<PairAndRow>(tile, panel, panelBytes, K, bias);
}

/** ACC = rows 0..3 (rows: 4 or 3 real ones) of a tile × a whole group, laid out as tile4x32F32's. */
// @ts-ignore: decorator
@inline export function groupTileF32(tile: usize, rows: i32, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  if (rows == 4) tile4x32F32(tile, panel, panelBytes, K, bias);
  else tile3x32F32(tile, panel, panelBytes, K, bias);
}
