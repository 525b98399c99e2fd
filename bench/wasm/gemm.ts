// Benchmark-only WASM entry (AssemblyScript): the expert FFN's own down-projection kernels (assembly/ffn/
// down.ts: 4×8 tiles over packed row tiles — 6-row groups of them in the relaxed build —, the whole-group
// kernels of two to four rows, the single-row kernels of decode and of a last row) as a bare GEMM
// (assembly/ffn/gemm.ts), so the GEMM suite measures exactly the micro-kernels the experts run, without the
// gate/up activation or the combine around them.
//   C[M, N] = A[M, K] · Bᵀ, B given as [N, K] and pre-packed by the host into [N / 8, K, 8] panels; A's
//   4-row tiles are packed into a scratch [M, K] on every call, as the experts pack theirs.
// K must be a multiple of 4 and N of 8 (true of every benchmarked shape).
export { gemm } from '../../assembly/ffn/gemm';
export { heapBase } from '../../assembly/memory';
export { relaxed } from '../../assembly/simd';

import { row1x32, row1x8 } from '../../assembly/ffn/row1';
import { tile4x8, tile6x8Even, tile6x8Odd } from '../../assembly/ffn/tile';

/**
 * Not called by the host. It gives tile4x8<f32>, tile6x8Even/Odd, row1x32<f32> and row1x8<f32> a second
 * caller, as the library has (gate-up and down), so Binaryen keeps each kernel a function of its own here
 * too instead of inlining it into its one caller:
 * V8 compiles a loop by its nesting depth (it unrolls deeper loops further), and the inlined kernel was
 * compiled differently — once faster than the library's (V8 unrolled the one-step loop), once slower
 * (unrolled again on top of the two-step loop, spilling accumulators: 48 -> 30 GFLOP/s). row1x32 inlined
 * into down read M = 1, K 2048 × N 1408 (weights in L3) at 39 GB/s, kept a function as in the library 62
 * (same run, same output).
 */
export function tileKernel(tile: usize, panel: usize, K: i32, bias: usize): void {
  tile4x8<f32>(tile, panel, K, bias, 32);
  tile6x8Even(tile, panel, K, bias);
  tile6x8Odd(tile, panel, K, bias);
  row1x32<f32>(tile, panel, K, K, bias);
  row1x8<f32>(tile, panel, K, bias);
}
