// Benchmark-only WASM entry (AssemblyScript): the f32 kernels that read a whole group of four panels for one
// to four rows (assembly/ffn/row1.ts, group-tile.ts), as the library calls them, for bench/small-m.mjs;
// wasm/stream.ts's read loop is the memory probe beside them.
export { row1x32F32 } from './row1';
export { pair2x32F32, tile3x32F32, tile4x32F32 } from '../../assembly/ffn/group-tile';
export { heapBase } from '../../assembly/memory';
export { stream } from './stream';
