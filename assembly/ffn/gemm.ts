// The down projection's kernels as a bare GEMM, C[M, N] = A[M, K] · Bᵀ with B pre-packed into panels
// [N / 8, K, 8] — what bench/wasm/gemm.ts exports, so the GEMM suite times exactly the micro-kernels the
// experts run. A's rows are packed into `tiles` first, as the experts pack theirs. K % 4 == 0 and N % 8 == 0.
import { down } from './down';
import { hasSingleRow, packTiles, tileCount } from './pack';

/**
 * @param a      [M, K]
 * @param packed [N / 8, K, 8]
 * @param c      [M, N] out
 * @param tiles  [roundUp(M, 4), K] scratch
 */
export function gemm(a: usize, m: i32, k: i32, packed: usize, n: i32, c: usize, tiles: usize): void {
  packTiles(a, 0, m, k, tiles);
  const rowBytes = <usize>k << 2;
  // down() reads a single remaining row right after the tiles.
  if (hasSingleRow(m)) memory.copy(tiles + <usize>tileCount(m) * (rowBytes << 2), a + <usize>(m - 1) * rowBytes, rowBytes);
  down<f32>(tiles, m, k, packed, 0, 0, n, c, 0, 0, n / 8, tiles);
}
