// runExperts on several threads: the plan's experts are cut into work items (wasm-split.ts), the threads
// take items from a shared counter (wasm-pool.ts), each writing the y rows or columns of its items with
// its own scratch, and the main thread then combines per token exactly as the one-thread path does. The
// items come in two phases, in one job: row items and the gate/up half of the experts split by columns,
// then the down half of those, which reads the h the first phase wrote — a thread that takes a
// second-phase item first waits until every first-phase item has finished (the pool's barrier). The main
// thread either blocks until the workers are done (runExpertsThreaded) or, where it may not block,
// awaits them (runExpertsThreadedAsync); the items and the combine are the same.
//
// Same answer, bit for bit: see wasm-split.ts for why no cut changes a sum; the combine is unchanged.
import type { DispatchPlan } from '../spec/types.js';
import { copyHidden, copyIn, Scratch, type WasmHeap } from './wasm-heap.js';
import { kernelScratchBytes, type PackedShape, type WasmExperts, type WasmWeightDtype } from './wasm-experts.js';
import { LAYOUT, type WorkerPool } from './wasm-pool.js';
import { ITEM_DOWN, ITEM_GATE_UP, ITEM_WORDS, type WorkItems } from './wasm-split.js';

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Bytes (or, once taken, addresses) of one thread's scratch regions. */
type Sizes = { tiles: number; h: number; kernel: number };

/**
 * The kernels' scratch for one thread: tiles and the projections' own (kernelScratchBytes) for the rows of
 * its largest item (a column item packs all of its expert's rows), h for a row item's rows — or, f16, a
 * column-split expert's rows: its down items fold the shared h into the thread's own (assembly/ffn/down.ts
 * hFold).
 */
export function threadScratchBytes(work: WorkItems, shape: PackedShape, dtype: WasmWeightDtype): Sizes {
  const rows4 = roundUp4(Math.max(work.maxRows, work.columnRows));
  const hRows4 = roundUp4(Math.max(work.maxRows, dtype === 'f16' ? work.columnRows : 0));
  return { tiles: 4 * rows4 * shape.dModelK, h: 4 * hRows4 * shape.dFFPad, kernel: kernelScratchBytes(dtype, rows4, shape) };
}

/** runExpertItem's arguments before the item, as the workers read them from the control block. */
interface JobArgs {
  weightType: number;
  gateUp: number; gateUpScales: number; gateUpBias: number;
  down: number; downScales: number; downBias: number;
  dModel: number; dFF: number; activation: number; alpha: number; limit: number;
  hidden: number; rows: number; y: number;
}

/** The exports the threaded path calls (assembly/ffn/experts.ts, tile.ts); every build has them. */
export interface ThreadedExports {
  runExpertItem(
    weightType: number, gu: number, guScales: number, guBias: number, dn: number, dnScales: number, dnBias: number,
    dModel: number, dFF: number, act: number, alpha: number, limit: number, hidden: number, rows: number,
    kind: number, expert: number, rowBegin: number, rowEnd: number, panelBegin: number, panelEnd: number, hShared: number,
    tiles: number, h: number, y: number, kernelScratch: number,
  ): void;
  combineExperts(
    y: number, dModel: number, rows: number, weights: number, slots: number, nRow: number, order: number, nSlot: number, out: number, nToken: number,
  ): void;
  useAccumulators(ptr: number): void;
}


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
  c[base + LAYOUT.first] = work.phases[0].nItem;
  for (const w of participants) {
    const slot = base + thread + 4 * w;
    c[slot + 1] = scratch.take(sizes.tiles);
    c[slot + 2] = scratch.take(sizes.h);
    c[slot + 3] = scratch.take(sizes.kernel);
  }
  return { tiles: scratch.take(sizes.tiles), h: scratch.take(sizes.h), kernel: scratch.take(sizes.kernel) };
}

/** A job written into memory: what the main thread's share and the combine read. */
interface StagedJob {
  a: JobArgs;
  mine: Sizes;
  work: WorkItems;
  /** Both phases' items, in order */
  items: Int32Array;
  wPtr: number; slPtr: number; ordPtr: number; outPtr: number;
  nToken: number; nRow: number; nSlot: number; dModel: number;
  /** [nToken, dModel], made by the main thread's share (drainer) */
  out?: Float32Array;
}

/**
 * Both phases' items in order, each expert split by columns given its h (one region for all, each
 * [roundUp(rows, 4), dFFPad]): the address goes into its column items, in place of the expert's index in
 * work.columns (work itself is left as it is).
 */
function itemsWithSharedH(work: WorkItems, hBase: number, dFFPad: number): Int32Array {
  const at: number[] = [];
  let offset = hBase;
  for (const c of work.columns) {
    at.push(offset);
    offset += 4 * roundUp4(c.rows) * dFFPad;
  }
  const [one, two] = work.phases;
  const items = new Int32Array(ITEM_WORDS * work.nItem);
  items.set(one.items);
  items.set(two.items, one.items.length);
  for (let i = 0; i < work.nItem; i++) {
    const kind = items[ITEM_WORDS * i];
    if (kind === ITEM_GATE_UP || kind === ITEM_DOWN) items[ITEM_WORDS * i + 6] = at[items[ITEM_WORDS * i + 6]];
  }
  return items;
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
  const sizes = threadScratchBytes(work, experts.shape, experts.weightDtype);
  const hSharedBytes = work.columns.reduce((sum, c) => sum + 4 * roundUp4(c.rows) * dFFPad, 0);
  const span = Scratch.span;
  const perThread = span(sizes.tiles) + span(sizes.h) + span(sizes.kernel);
  s.reserve(span(4 * nToken * dModelK) + span(4 * nToken * dModel) + 3 * span(4 * nRow) + span(4 * nRow * dModelPad)
    + span(4 * nSlot) + span(4 * ITEM_WORDS * work.nItem) + span(hSharedBytes)
    + (participants.length + 1) * perThread);
  const xPtr = s.take(4 * nToken * dModelK);
  const rPtr = s.take(4 * nRow);
  const wPtr = s.take(4 * nRow);
  const slPtr = s.take(4 * nRow);
  const yPtr = s.take(4 * nRow * dModelPad);
  const ordPtr = s.take(4 * nSlot);
  const outPtr = s.take(4 * nToken * dModel);
  const hShared = s.take(hSharedBytes);
  const itemsPtr = s.take(4 * ITEM_WORDS * work.nItem);
  const f32 = heap.f32;
  const i32 = heap.i32;
  copyHidden(f32, hidden, nToken, dModel, dModelK, xPtr >>> 2);
  copyIn(i32, rows, nRow, rPtr >>> 2);
  copyIn(f32, weights, nRow, wPtr >>> 2);
  copyIn(i32, slots, nRow, slPtr >>> 2);
  const items = itemsWithSharedH(work, hShared, dFFPad);
  i32.set(items, itemsPtr >>> 2);
  const p = experts.ptrs;
  const a: JobArgs = {
    weightType: experts.weightType, gateUp: p.gateUp, gateUpScales: p.gateUpScales, gateUpBias: p.gateUpBias,
    down: p.down, downScales: p.downScales, downBias: p.downBias, dModel, dFF: experts.dFF,
    activation: experts.activation, alpha: experts.alpha, limit: experts.limit, hidden: xPtr, rows: rPtr, y: yPtr,
  };
  const mine = writeJob(pool, participants, heap, s, a, work, itemsPtr, sizes);
  return { a, mine, work, items, wPtr, slPtr, ordPtr, outPtr, nToken, nRow, nSlot, dModel };
}

/**
 * The main thread's share: the output array first, then items from the shared counter until none are
 * left (wasm-worker.ts takes them alike). The output is new memory, whose first writes fault its pages
 * in — ~1 GB/s on this VM, 1.0-2.3 ms for 2 MB — so it is written here, while the workers have started
 * on the items, rather than after the join, when no worker has anything left to do.
 */
function drainer(pool: WorkerPool, heap: WasmHeap, wasm: ThreadedExports, job: StagedJob): () => void {
  return () => {
    job.out = new Float32Array(job.nToken * job.dModel).fill(0);
    const { a, mine, items, work } = job;
    const ctrl = new Int32Array(heap.i32.buffer, pool.ctrl, LAYOUT.words);
    const first = work.phases[0].nItem;
    for (;;) {
      const i = Atomics.add(ctrl, LAYOUT.next, 1);
      if (i >= work.nItem) break;
      if (i >= first) pool.awaitFirstPhase(ctrl, first);
      const it = ITEM_WORDS * i;
      wasm.runExpertItem(a.weightType, a.gateUp, a.gateUpScales, a.gateUpBias, a.down, a.downScales, a.downBias, a.dModel,
        a.dFF, a.activation, a.alpha, a.limit, a.hidden, a.rows, items[it], items[it + 1], items[it + 2], items[it + 3],
        items[it + 4], items[it + 5], items[it + 6], mine.tiles, mine.h, a.y, mine.kernel);
      if (i < first) pool.finishedFirstPhaseItem(ctrl, first);
    }
  };
}

/** Per token, exactly as the one-thread path combines; the output copied out. */
function combine(heap: WasmHeap, s: Scratch, wasm: ThreadedExports, job: StagedJob): Float32Array {
  const { a, wPtr, slPtr, ordPtr, outPtr, nToken, nRow, nSlot, dModel, out } = job;
  wasm.combineExperts(a.y, dModel, a.rows, wPtr, slPtr, nRow, ordPtr, nSlot, outPtr, nToken);
  s.check('runExperts (threads)');
  out!.set(heap.f32.subarray(outPtr >>> 2, (outPtr >>> 2) + nToken * dModel));
  return out!;
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
