// Benchmark-only WASM entry (AssemblyScript): the project's own down-projection kernel (assembly/ffn/down.ts,
// f32-down-4x8 with the f32-down-1x8 tail) exported as a bare GEMM, so the GEMM suite measures exactly the
// micro-kernel the expert FFN runs, without the gate/up activation or the combine around it.
//   C[M, N] = A[M, K] · Bᵀ, B given as [N, K] and pre-packed by the host into [N / 8, K, 8] panels.
// K must be a multiple of 4 and N of 8 (true of every benchmarked shape).
import { down } from '../../assembly/ffn/down';
export { heapBase } from '../../assembly/memory';
export { relaxed } from '../../assembly/simd';

/**
 * @param a      [M, K]
 * @param packed [N / 8, K, 8]
 * @param c      [M, N] out
 */
export function gemm(a: usize, m: i32, k: i32, packed: usize, n: i32, c: usize): void {
  down(a, m, k, packed, n, c);
}
