// Benchmark-only WASM entry (AssemblyScript): the f32 kernels that read a whole group of four panels for one
// to four rows (assembly/ffn/row1.ts, group-tile.ts), as the library calls them, for bench/small-m.mjs;
// wasm/stream.ts's read loop is the memory probe beside them.
import { row1x32 } from '../../assembly/ffn/row1';
export { pair2x32F32, tile3x32F32, tile4x32F32 } from '../../assembly/ffn/group-tile';
export { heapBase } from '../../assembly/memory';
export { stream } from './stream';

export function row1x32F32(x: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  row1x32<f32>(x, panel, panelBytes, K, bias);
}
