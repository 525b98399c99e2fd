// The load's packing (wasm-pack.ts) on several threads: the calling thread copies a batch of chunks' rows into
// memory every thread reads — as f32, or as their checkpoint's bytes, which are fewer — and describes each
// chunk; then every thread takes chunks from the pool's counter (wasm-pool.ts) and decodes, packs and
// converts them in the module (assembly/ffn/pack-item.ts) with its own staging, each into its own place in
// the experts' blocks. The calls on each chunk are those of the one-thread packing: the same bits. The copy
// stays on the calling thread (it reads the caller's arrays) and costs a fraction of the rest: a GPT-OSS-20B-
// sized MXFP4 layer packed to int8 here in 1.42 s on one thread, 0.93–1.01 s on two.
import type { EncodedRows, RowReader } from '../formats/deferred-tensor.js';
import { encodedBytes, runScaleBytes } from './wasm-decode.js';
import type { WasmHeap } from './wasm-heap.js';
import { LAYOUT, type WorkerPool } from './wasm-pool.js';
import { ITEM_WORDS } from './wasm-split.js';
import type { WasmWeightDtype } from './wasm-experts.js';

/** assembly/ffn/experts.ts ITEM_PACK, and pack-item.ts's description: its size and its encodings and storages. */
const ITEM_PACK = 3;
const PACK_ITEM_BYTES = 80;
/** The description's i32 words, in pack-item.ts's order: each run's four, then the chunk's eight; then the largest |w| (f32). */
const RUN_WORDS = 4;
const AMAX_WORD = 2 * RUN_WORDS + 8;
const ROW_ENCODING: Record<'f32' | EncodedRows['encoding'], number> = { f32: 0, bf16: 1, f16: 2, mxfp4: 3, fp8: 4 };
const PACK_DTYPE: Record<WasmWeightDtype, number> = { f32: 0, f16: 1, int8: 2 };

/** Bytes of rows copied for one job at most: a few chunks per thread, without holding a layer twice. */
const BATCH_BYTES = 24 << 20;

/** One run of rows a chunk reads: its f32 reader, or its checkpoint bytes where the module decodes them. */
export interface RowSource {
  read: RowReader;
  encoded: EncodedRows | undefined;
}

/** A chunk of one projection of one expert, as wasm-pack.ts's chunksOf cuts them. */
export interface PackChunk {
  lo: RowSource;
  /** gated: the up rows beside lo's gate rows; absent: the high columns are lo's next rows */
  hi: RowSource | undefined;
  /** rows [from, from + count) of the projection's row space, `len` values each */
  from: number;
  count: number;
  len: number;
  rowStep: number;
  nPanel: number;
  K: number;
  /** where its panels go (f32, f16 or int8 as `dtype`), and int8's scales */
  dst: number;
  q8Scales: number;
}

/** The module's pack item (assembly/ffn/pack-item.ts); the workers reach it through runExpertItem's ITEM_PACK. */
export interface PackItemExports {
  packItem(desc: number, staging: number, panels: number): void;
}

/** The pool, its ready workers and the module, for a packing that may run on them. */
export interface PackThreads {
  pool: WorkerPool;
  participants: number[];
  wasm: PackItemExports;
  /** each thread's staging for a chunk's decoded rows and its f32 panels, in bytes */
  stagingBytes: number;
  panelBytes: number;
  /** told of every job run (a count for tests and benchmarks) */
  onJob?: () => void;
}

/** Bytes one run of `count` rows of `len` values takes in memory: [rows, scales]. */
function runBytes(source: RowSource, count: number, len: number): [number, number] {
  const e = source.encoded;
  return e ? [encodedBytes(e, count, len), runScaleBytes(e, count, len)] : [4 * count * len, 0];
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** Bytes a chunk's copied rows and scales take (lo and hi), each region 16-aligned. */
function chunkBytes(c: PackChunk): number {
  let total = 0;
  for (const s of c.hi ? [c.lo, c.hi] : [c.lo]) for (const b of runBytes(s, c.count, c.len)) total += align16(b);
  return total;
}

/** A job for the pool: its participants and the calling thread's share, to run blocking (pool.run) or awaited (pool.runAsync). */
export interface ThreadJob {
  participants: number[];
  drain: () => void;
}

/**
 * Packs `chunks` on the calling thread and the pool's participants, one job per batch — yielded for the caller
 * to run, blocking or awaited (wasm-pack.ts packExperts, packExpertsAsync) — and returns the largest |w|
 * packed. A job that fails (a worker failed) is thrown back in here and ends the packing: the caller then
 * packs on its own thread.
 */
export function* packChunksThreaded(heap: WasmHeap, threads: PackThreads, chunks: PackChunk[], dtype: WasmWeightDtype): Generator<ThreadJob, number> {
  const { pool, participants, wasm } = threads;
  const nThread = participants.length + 1;
  const regions: number[] = [];
  let amax = 0;
  try {
    // Each thread's staging and panels: the workers' in their control slots, the calling thread's kept here.
    const own = (bytes: number) => {
      const p = bytes > 0 ? heap.alloc(bytes) : 0;
      if (p) regions.push(p);
      return p;
    };
    const scratch = Array.from({ length: nThread }, () => [own(threads.stagingBytes), own(threads.panelBytes)]);
    // The copies' region: BATCH_BYTES, or the whole layer's rows when they are fewer (memory, once grown, stays).
    const sizes = chunks.map(chunkBytes);
    const maxBatch = Math.max(...sizes, Math.min(BATCH_BYTES, sizes.reduce((a, b) => a + b, 0)));
    const rows = own(maxBatch);
    const descs = own(PACK_ITEM_BYTES * chunks.length);
    const items = own(4 * ITEM_WORDS * chunks.length);
    for (let first = 0; first < chunks.length;) {
      // A batch: as many chunks as fit, their rows copied in, their descriptions and items written.
      let at = rows;
      let end = first;
      while (end < chunks.length && (end === first || at - rows + sizes[end] <= maxBatch)) {
        at = copyChunk(heap, chunks[end], at, descs + PACK_ITEM_BYTES * end, dtype);
        end++;
      }
      const i32 = heap.i32;
      for (let i = first; i < end; i++) {
        i32.set([ITEM_PACK, descs + PACK_ITEM_BYTES * i, 0, 0, 0, 0, 0], (items >>> 2) + ITEM_WORDS * (i - first));
      }
      yield stageJob(heap, pool, participants, wasm, items, end - first, scratch);
      threads.onJob?.();
      const f32 = heap.f32;
      for (let i = first; i < end; i++) amax = Math.max(amax, f32[((descs + PACK_ITEM_BYTES * i) >>> 2) + AMAX_WORD]);
      first = end;
    }
  } finally {
    for (const p of regions) heap.release(p);
  }
  return amax;
}

/** Copies a chunk's rows to `at` and describes it at `desc` (pack-item.ts); returns where the next chunk's rows go. */
function copyChunk(heap: WasmHeap, c: PackChunk, at: number, desc: number, dtype: WasmWeightDtype): number {
  const place = (source: RowSource): [number, number] => {
    const [bytes, scaleBytes] = runBytes(source, c.count, c.len);
    const src = at;
    const scales = at + align16(bytes);
    at = scales + align16(scaleBytes);
    if (c.count === 0) return [src, scales];
    if (source.encoded) source.encoded.read(c.from, c.from + c.count, { bytes: heap.u8, f32: heap.f32, at: src, scalesAt: scales }, 0);
    else source.read(c.from, c.from + c.count, heap.f32, src >>> 2);
    return [src, scales];
  };
  // Each run: its encoding, address, scales and columns per scale; then the chunk (pack-item.ts's description).
  const run = (source: RowSource) => {
    const [src, scales] = place(source);
    return [ROW_ENCODING[source.encoded ? source.encoded.encoding : 'f32'], src, scales, source.encoded?.blockCols ?? 0];
  };
  heap.i32.set([
    ...run(c.lo), ...(c.hi ? run(c.hi) : new Array<number>(RUN_WORDS).fill(0)),
    c.count, c.len, c.rowStep, c.nPanel, c.K, PACK_DTYPE[dtype], c.dst, c.q8Scales, 0, 0, 0, 0,
  ], desc >>> 2);
  return at;
}

/** One job of `nItem` pack items at `items`: the workers' scratch into their slots, and the calling thread's share. */
function stageJob(heap: WasmHeap, pool: WorkerPool, participants: number[], wasm: PackItemExports, items: number, nItem: number, scratch: number[][]): ThreadJob {
  const c = heap.i32;
  const base = pool.ctrl >>> 2;
  c[base + LAYOUT.nItem] = nItem;
  c[base + LAYOUT.items] = items;
  c[base + LAYOUT.first] = nItem;
  participants.forEach((w, i) => {
    const slot = base + LAYOUT.thread + 4 * w;
    c[slot + 1] = scratch[i + 1][0];
    c[slot + 2] = scratch[i + 1][1];
    c[slot + 3] = 0;
  });
  const [staging, panels] = scratch[0];
  return {
    participants,
    drain: () => {
      const ctrl = new Int32Array(heap.i32.buffer, pool.ctrl, LAYOUT.words);
      const list = new Int32Array(heap.i32.buffer, items, ITEM_WORDS * nItem);
      for (;;) {
        const i = Atomics.add(ctrl, LAYOUT.next, 1);
        if (i >= nItem) break;
        wasm.packItem(list[ITEM_WORDS * i + 1], staging, panels);
      }
    },
  };
}
