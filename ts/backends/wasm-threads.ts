// runExperts on several threads: the plan's rows are cut into (expert, row range) work items, the threads
// take items from a shared counter (wasm-pool.ts), each writing the y rows of its items with its own
// scratch, and the main thread then combines per token exactly as the one-thread path does. The main
// thread either blocks until the workers are done (runExpertsThreaded) or, where it may not block, awaits
// them (runExpertsThreadedAsync); the items and the combine are the same.
//
// Same answer, bit for bit: every item starts on a multiple of 4 rows from its expert's first row, so
// it cuts no row tile (assembly/ffn/experts.ts) and each y row goes through the same kernel on the same
// tile as in one pass; the combine is unchanged. Which thread runs an item changes nothing.
import type { DispatchPlan } from '../spec/types.js';
import { copyHidden, copyIn, Scratch, type WasmHeap } from './wasm-heap.js';
import type { WasmExperts } from './wasm-experts.js';
import { LAYOUT, type WorkerPool } from './wasm-pool.js';

/**
 * Rows per item: at least MIN_ITEM_ROWS, so each item's pass over its expert's weights (which every item
 * of an expert repeats) is shared by enough rows to stay compute-bound (~16 FLOP per f32 weight byte at
 * 32 rows); at most MAX_ITEM_ROWS, so no item runs for long (balance at the end of a job, and the pool's
 * watchdog); in between, about two items per thread of the job's rows, for balance.
 */
const MIN_ITEM_ROWS = 32;
const MAX_ITEM_ROWS = 256;

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

export interface WorkItems {
  /** [nItem, 3]: expert, first plan row, end plan row; largest items first */
  items: Int32Array;
  nItem: number;
  /** Most rows of one item */
  maxRows: number;
}

/** Cuts each expert's rows into near-equal parts that start on multiples of 4 rows from its first. */
export function splitWork(offsets: ArrayLike<number>, nExpert: number, nThread: number): WorkItems {
  const nRow = offsets[nExpert] - offsets[0];
  const target = Math.min(MAX_ITEM_ROWS, Math.max(MIN_ITEM_ROWS, roundUp4(Math.ceil(nRow / (2 * nThread)))));
  const list: [number, number, number][] = [];
  let maxRows = 0;
  for (let e = 0; e < nExpert; e++) {
    const r0 = offsets[e];
    const n = offsets[e + 1] - r0;
    if (n <= 0) continue;
    const parts = Math.ceil(n / target);
    const step = roundUp4(Math.ceil(n / parts));
    for (let a = 0; a < n; a += step) {
      const b = Math.min(n, a + step);
      list.push([e, r0 + a, r0 + b]);
      maxRows = Math.max(maxRows, b - a);
    }
  }
  // Largest first: the last items taken are the small ones, so the threads finish close together.
  list.sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]) || x[0] - y[0] || x[1] - y[1]);
  const items = new Int32Array(3 * list.length);
  list.forEach((it, i) => items.set(it, 3 * i));
  return { items, nItem: list.length, maxRows };
}

/** The kernels' scratch for one thread running items of up to `rows` rows. */
export function threadScratchBytes(rows: number, dModelK: number, dFFPad: number, int8: boolean): { tiles: number; h: number; q8: number } {
  const rows4 = roundUp4(rows);
  return { tiles: 4 * rows4 * dModelK, h: 4 * rows4 * dFFPad, q8: int8 ? 4 * (rows4 + 1) * Math.max(dModelK, dFFPad) : 0 };
}

/** runExpertRows' arguments before the item, as the workers read them from the control block. */
interface JobArgs {
  weightType: number;
  gateUp: number; gateUpScales: number; gateUpBias: number;
  down: number; downScales: number; downBias: number;
  dModel: number; dFF: number; activation: number; alpha: number; limit: number;
  hidden: number; rows: number; y: number;
}

/** The exports the threaded path calls (assembly/ffn/experts.ts, tile.ts); every build has them. */
export interface ThreadedExports {
  runExpertRows(
    weightType: number, gu: number, guScales: number, guBias: number, dn: number, dnScales: number, dnBias: number,
    dModel: number, dFF: number, act: number, alpha: number, limit: number, hidden: number, rows: number,
    expert: number, rowBegin: number, rowEnd: number, tiles: number, h: number, y: number, q8: number,
  ): void;
  combineExperts(
    y: number, dModel: number, rows: number, weights: number, slots: number, nRow: number, order: number, nSlot: number, out: number, nToken: number,
  ): void;
  useAccumulators(ptr: number): void;
}

type Sizes = { tiles: number; h: number; q8: number };

/** Writes the job into the control block, each worker's scratch into its slot; returns the main thread's. */
function writeJob(pool: WorkerPool, participants: number[], heap: WasmHeap, scratch: Scratch, a: JobArgs, work: WorkItems, itemsPtr: number, sizes: Sizes): Sizes {
  const { params, thread } = LAYOUT;
  const c = heap.i32;
  const base = pool.ctrl >>> 2;
  c.set([a.weightType, a.gateUp, a.gateUpScales, a.gateUpBias, a.down, a.downScales, a.downBias, a.dModel, a.dFF, a.activation], base + params);
  heap.f32[base + params + 10] = a.alpha;
  heap.f32[base + params + 11] = a.limit;
  c.set([a.hidden, a.rows, a.y], base + params + 12);
  c[base + LAYOUT.nItem] = work.nItem;
  c[base + LAYOUT.items] = itemsPtr;
  for (const w of participants) {
    const slot = base + thread + 4 * w;
    c[slot + 1] = scratch.take(sizes.tiles);
    c[slot + 2] = scratch.take(sizes.h);
    c[slot + 3] = scratch.take(sizes.q8);
  }
  return { tiles: scratch.take(sizes.tiles), h: scratch.take(sizes.h), q8: scratch.take(sizes.q8) };
}

/** A job written into memory: what the main thread's share and the combine read. */
interface StagedJob {
  a: JobArgs;
  mine: Sizes;
  work: WorkItems;
  wPtr: number; slPtr: number; ordPtr: number; outPtr: number;
  nToken: number; nRow: number; nSlot: number; dModel: number;
}

/** Copies the plan's rows into `s` and writes the job into the control block. */
function stageJob(
  pool: WorkerPool, participants: number[], heap: WasmHeap, s: Scratch,
  experts: WasmExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan, nSlot: number, work: WorkItems,
): StagedJob {
  const { dModel } = experts;
  const { rows, weights, slots } = plan;
  const nRow = rows.length;
  const { dModelK, dFFPad, dModelPad } = experts.shape;
  const sizes = threadScratchBytes(work.maxRows, dModelK, dFFPad, experts.weightDtype === 'int8');
  const span = Scratch.span;
  const perThread = span(sizes.tiles) + span(sizes.h) + span(sizes.q8);
  s.reserve(span(4 * nToken * dModelK) + span(4 * nToken * dModel) + 3 * span(4 * nRow) + span(4 * nRow * dModelPad)
    + span(4 * nSlot) + span(4 * work.items.length) + (participants.length + 1) * perThread);
  const xPtr = s.take(4 * nToken * dModelK);
  const rPtr = s.take(4 * nRow);
  const wPtr = s.take(4 * nRow);
  const slPtr = s.take(4 * nRow);
  const yPtr = s.take(4 * nRow * dModelPad);
  const ordPtr = s.take(4 * nSlot);
  const outPtr = s.take(4 * nToken * dModel);
  const itemsPtr = s.take(4 * work.items.length);
  const f32 = heap.f32;
  const i32 = heap.i32;
  copyHidden(f32, hidden, nToken, dModel, dModelK, xPtr >>> 2);
  copyIn(i32, rows, nRow, rPtr >>> 2);
  copyIn(f32, weights, nRow, wPtr >>> 2);
  copyIn(i32, slots, nRow, slPtr >>> 2);
  i32.set(work.items, itemsPtr >>> 2);
  const p = experts.ptrs;
  const a: JobArgs = {
    weightType: experts.weightType, gateUp: p.gateUp, gateUpScales: p.gateUpScales, gateUpBias: p.gateUpBias,
    down: p.down, downScales: p.downScales, downBias: p.downBias, dModel, dFF: experts.dFF,
    activation: experts.activation, alpha: experts.alpha, limit: experts.limit, hidden: xPtr, rows: rPtr, y: yPtr,
  };
  const mine = writeJob(pool, participants, heap, s, a, work, itemsPtr, sizes);
  return { a, mine, work, wPtr, slPtr, ordPtr, outPtr, nToken, nRow, nSlot, dModel };
}

/** The main thread's share: items from the shared counter until none are left. */
function drainer(pool: WorkerPool, heap: WasmHeap, wasm: ThreadedExports, job: StagedJob): () => void {
  return () => {
    const { a, mine, work } = job;
    const ctrl = new Int32Array(heap.i32.buffer, pool.ctrl, LAYOUT.words);
    const items = work.items;
    for (;;) {
      const i = Atomics.add(ctrl, LAYOUT.next, 1);
      if (i >= work.nItem) break;
      wasm.runExpertRows(a.weightType, a.gateUp, a.gateUpScales, a.gateUpBias, a.down, a.downScales, a.downBias, a.dModel,
        a.dFF, a.activation, a.alpha, a.limit, a.hidden, a.rows, items[3 * i], items[3 * i + 1], items[3 * i + 2],
        mine.tiles, mine.h, a.y, mine.q8);
    }
  };
}

/** Per token, exactly as the one-thread path combines; the output copied out. */
function combine(heap: WasmHeap, s: Scratch, wasm: ThreadedExports, job: StagedJob): Float32Array {
  const { a, wPtr, slPtr, ordPtr, outPtr, nToken, nRow, nSlot, dModel } = job;
  wasm.combineExperts(a.y, dModel, a.rows, wPtr, slPtr, nRow, ordPtr, nSlot, outPtr, nToken);
  s.check('runExperts (threads)');
  return heap.f32.slice(outPtr >>> 2, (outPtr >>> 2) + nToken * dModel);
}

/**
 * runExperts (wasm.ts) on the main thread and the ready workers `participants`: the plan was checked
 * and cut into `work` (splitWork) there; here its rows are copied in, the items run, the rows combined.
 * Same result, bit for bit. Blocks until the workers are done.
 */
export function runExpertsThreaded(
  pool: WorkerPool, participants: number[], heap: WasmHeap, s: Scratch, wasm: ThreadedExports,
  experts: WasmExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan, nSlot: number, work: WorkItems,
): Float32Array {
  const job = stageJob(pool, participants, heap, s, experts, hidden, nToken, plan, nSlot, work);
  pool.run(participants, drainer(pool, heap, wasm, job));
  return combine(heap, s, wasm, job);
}

/**
 * runExpertsThreaded for a thread that may not block: the same job, awaited. `s` must be scratch no
 * other call touches while this one awaits (the backend gives these jobs a scratch of their own).
 */
export async function runExpertsThreadedAsync(
  pool: WorkerPool, participants: number[], heap: WasmHeap, s: Scratch, wasm: ThreadedExports,
  experts: WasmExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan, nSlot: number, work: WorkItems,
): Promise<Float32Array> {
  const job = stageJob(pool, participants, heap, s, experts, hidden, nToken, plan, nSlot, work);
  await pool.runAsync(participants, drainer(pool, heap, wasm, job));
  return combine(heap, s, wasm, job);
}
