// Row tiles: 4 rows of A interleaved as [K][4], so a 4×8 micro-kernel reads its 4 activations per step
// of K with load-splats at fixed offsets from one pointer. Packing once per expert (O(rows · K)) and
// reusing the tile across every panel (O(rows · K · N)) also removes the cost of rows whose addresses
// differ by a power of two: with dModel = 1024 four unpacked rows sit 4 KiB apart, alias in L1 and
// halve the kernel's speed (measured: 16 vs 28 GFLOP/s at M = 64).

/** Columns of a 4×4 block from its rows (lanes: row 0..3), the four columns `stride` bytes apart. */
// @ts-ignore: decorator
@inline export function transposeStoreStrided(r0: v128, r1: v128, r2: v128, r3: v128, dst: usize, stride: usize): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

/** Columns of a 4×4 block from its rows (lanes: row 0..3), one after the other. */
// @ts-ignore: decorator
@inline export function transposeStore(r0: v128, r1: v128, r2: v128, r3: v128, dst: usize): void {
  transposeStoreStrided(r0, r1, r2, r3, dst, 16);
}

/** Columns of a 2×4 block from its rows into two adjacent lanes of four [4]-lane groups 16 bytes apart (dst: the first lane). */
// @ts-ignore: decorator
@inline export function transposeStorePair(r0: v128, r1: v128, dst: usize): void {
  const lo = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const hi = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  v128.store64_lane(dst, lo, 0);
  v128.store64_lane(dst, lo, 1, 16);
  v128.store64_lane(dst, hi, 0, 32);
  v128.store64_lane(dst, hi, 1, 48);
}

/**
 * dst [K][4] = rows x0..x3 [K] interleaved. K % 4 == 0.
 */
export function packTile(x0: usize, x1: usize, x2: usize, x3: usize, K: i32, dst: usize): void {
  const bytes = <usize>K << 2;
  for (let i: usize = 0; i < bytes; i += 16) {
    transposeStore(v128.load(x0 + i), v128.load(x1 + i), v128.load(x2 + i), v128.load(x3 + i), dst + (i << 2));
  }
}

/** Row tiles of nRow rows: full tiles, plus one zero-padded tile for a remainder of 2 or 3 rows. */
// @ts-ignore: decorator
@inline export function tileCount(nRow: i32): i32 {
  return (nRow >> 2) + ((nRow & 3) >= 2 ? 1 : 0);
}

/**
 * Whether the last row runs alone (a remainder of 1: decode and the like), through the 1-row kernels that
 * stream several panels at once; a remainder of 2 or 3 rows is cheaper as a padded tile, which reads
 * the weights once instead of once per row.
 */
// @ts-ignore: decorator
@inline export function hasSingleRow(nRow: i32): bool {
  return (nRow & 3) == 1;
}

/** Real rows of row tile t (t < tileCount(nRow)): 4, or 2 or 3 in a last tile whose other rows are padding. */
// @ts-ignore: decorator
@inline export function tileRows(nRow: i32, t: i32): i32 {
  return min(4, nRow - (t << 2));
}

/**
 * Packs rows into tiles: tile t = rows 4t .. 4t+3 → dst + t · K · 16; a last partial tile (2 or 3 rows)
 * is padded with zero rows. A single remaining row is not packed (the 1-row kernels read it in place).
 * @param src   [*, K] row-major
 * @param rows  [nRow] row index into src of each row, or 0 for rows 0..nRow−1 in order
 * @param dst   [tileCount(nRow), K, 4] out
 */
export function packTiles(src: usize, rows: usize, nRow: i32, K: i32, dst: usize): void {
  const rowBytes = <usize>K << 2;
  const nTile = tileCount(nRow);
  for (let t = 0; t < nTile; t++) {
    const r = t << 2;
    const x0 = rowAt(src, rows, r, rowBytes);
    const x1 = rowAt(src, rows, r + 1, rowBytes);
    const out = dst + <usize>t * (rowBytes << 2);
    if (r + 4 <= nRow) {
      packTile(x0, x1, rowAt(src, rows, r + 2, rowBytes), rowAt(src, rows, r + 3, rowBytes), K, out);
    } else {
      const x2 = r + 2 < nRow ? rowAt(src, rows, r + 2, rowBytes) : 0;
      const zero = f32x4.splat(0);
      for (let i: usize = 0; i < rowBytes; i += 16) {
        transposeStore(v128.load(x0 + i), v128.load(x1 + i), x2 ? v128.load(x2 + i) : zero, zero, out + (i << 2));
      }
    }
  }
}

// @ts-ignore: decorator
@inline function rowAt(src: usize, rows: usize, r: i32, rowBytes: usize): usize {
  return src + <usize>(rows ? load<i32>(rows + (<usize>r << 2)) : r) * rowBytes;
}
