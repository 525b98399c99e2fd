// The down projection's kernels as a bare GEMM, C[M, N] = A[M, K] · Bᵀ with B pre-packed into panels
// [N / 8, K, 8] — what bench/wasm/gemm.ts exports, so the GEMM suite times exactly the micro-kernels the
// experts run. A's full 4-row tiles are packed into `tiles` first (as the experts pack theirs), the
// tail rows are read in place. K % 4 == 0 and N % 8 == 0.
import { down } from './down';
import { packTiles } from './pack';

/**
 * @param a      [M, K]
 * @param packed [N / 8, K, 8]
 * @param c      [M, N] out
 * @param tiles  [M / 4, K, 4] scratch
 */
export function gemm(a: usize, m: i32, k: i32, packed: usize, n: i32, c: usize, tiles: usize): void {
  const nTile = m >> 2;
  packTiles(a, 0, nTile << 2, k, tiles);
  // down() reads tail rows right after the tiles, at row index ≥ 4·nTile: copy them there.
  const rowBytes = <usize>k << 2;
  const tail = <usize>(nTile << 2) * rowBytes;
  memory.copy(tiles + tail, a + tail, <usize>(m - (nTile << 2)) * rowBytes);
  down(tiles, m, k, packed, 0, n, c);
}
