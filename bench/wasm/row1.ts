// Benchmark-only WASM entry (AssemblyScript): the single-row kernels of assembly/ffn/tile.ts as they are,
// for bench/row1.mjs. row1x32<f32> reads four [K][8] f32 panels, row1x32Folded a group of four f16
// panels interleaved [K][4][8] (assembly/ffn/weights.ts), on a row already scaled by F16_SCALE.
import { row1x32, row1x32Folded } from '../../assembly/ffn/row1';
import { ACC } from '../../assembly/ffn/tile';
export { heapBase } from '../../assembly/memory';
export { row1x32Folded };

export function row1x32F32(x: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  row1x32<f32>(x, panel, panelBytes, K, bias);
}

export function accumulators(): usize {
  return ACC;
}
