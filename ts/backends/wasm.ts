// The WASM path: AssemblyScript SIMD kernels (assembly/) behind the CpuBackend interface. Inputs are
// copied into per-call scratch in the module's memory, kernels run on raw pointers, results are copied
// out into fresh arrays (the only per-call allocations). Expert weights are packed once, at prepare time.
// Over a shared-memory build (options.threads > 1) runExperts also runs on worker threads: wasm-threads.ts
// splits the work, wasm-pool.ts runs the workers; everything else stays on the calling thread. A thread
// that may not block (a browser window's main thread) runs threaded only through runExpertsAsync: its
// jobs take turns (one promise chain per backend) and stage their data in a scratch of their own, so the
// calls other blocks make while a job awaits its workers (routing, one-thread runs) cannot touch it.
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import { SwitchyardError } from '../errors.js';
import type { DispatchPlan } from '../spec/types.js';
import {
  isGated, type CpuBackend, type ExpertWeights, type PreparedExperts, type RouterLogitsArgs, type RoutingCore,
  type TopKSoftmaxArgs, type TopKSoftmaxResult,
} from './backend.js';
import { copyIn, Scratch, WasmHeap } from './wasm-heap.js';
import { packedShape, WasmExperts, type ExpertOwner, type PackedPointers, type PackedShape, type WasmWeightDtype } from './wasm-experts.js';
import { packExperts, packExpertsAsync, type PackExports, type PackThreadsOf } from './wasm-pack.js';
import type { PackItemExports } from './wasm-pack-threads.js';
import { wasmWeightWriter, type RowConvertExports } from './wasm-device-weights.js';
import type { DeviceWeightWriter } from './device-weights.js';
import { ROUTER_EXPORTS, routeOnWasm, type WasmRouterExports } from './wasm-router.js';
import type { ThreadProvider } from '../runtime/providers.js';
import { ACCUMULATOR_BYTES, callerMayBlock, LAYOUT, WorkerPool } from './wasm-pool.js';
import { runExpertsThreaded, runExpertsThreadedAsync, type ThreadedExports } from './wasm-threads.js';
import { splitWork, type ColumnPolicy, type WorkItems } from './wasm-split.js';
import { checkRun, expectLength, runExpertsSinglePass, type CheckedRun, type SinglePassExports } from './wasm-run.js';

/** The module's exports (assembly/index.ts); every pointer is a byte offset into `memory`. */
interface WasmExports extends WasmRouterExports, ThreadedExports, SinglePassExports, PackExports, Partial<RowConvertExports> {
  memory: WebAssembly.Memory;
  heapBase(): number;
  relaxed(): number;
  topKSoftmax(
    logits: number, probs: number, indices: number, weights: number,
    nToken: number, nExpert: number, k: number, normalize: number, scale: number,
  ): void;
}

/** What runs the workers of a shared-memory build (ts/runtime/threads.ts decides when this is possible). */
export interface WasmThreading {
  provider: ThreadProvider;
  /** Threads including the calling one, ≥ 2 */
  threads: number;
  /**
   * Whether the calling thread may block in Atomics.wait; detected when absent. false: only
   * runExpertsAsync runs threaded (tests set it to exercise a browser main thread's path in Node).
   */
  blocking?: boolean;
  /** Which experts are split by columns rather than rows (wasm-split.ts); 'auto' when absent. Tests and benchmarks set it. */
  columns?: ColumnPolicy;
}

const REQUIRED_EXPORTS = ['memory', 'heapBase', 'relaxed', 'topKSoftmax', 'runExperts', 'packPanels', 'convertF16', 'convertInt8', ...ROUTER_EXPORTS] as const;
const THREAD_EXPORTS = ['runExpertItem', 'combineExperts', 'useAccumulators'] as const;

export class WasmBackend implements CpuBackend, ExpertOwner {
  readonly name = 'wasm' as const;
  /** Which kernels run: plain SIMD128, or relaxed-SIMD with fused multiply-add. */
  readonly variant: 'simd128' | 'relaxed-simd';
  private readonly wasm: WasmExports;
  private readonly heap: WasmHeap;
  private readonly scratch: Scratch;
  /** The other threads' workers (shared-memory builds only); they run while experts are prepared. */
  private readonly pool: WorkerPool | undefined;
  private readonly threadsAsked: number;
  /** The workers' start-up that startThreads waited for first, and when it stops waiting for it. */
  private startWait?: { started: Promise<void>; deadline: number };
  /** false on a thread that may not block: the pool then runs only awaited jobs (runExpertsAsync). */
  readonly blocking: boolean;
  /** The awaited jobs' own scratch (see the header), made on first use. */
  private jobScratch: Scratch | undefined;
  /** The last awaited job queued: each starts when the one before it has settled. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Experts an awaited job is running now, and those destroyed meanwhile (released when it settles). */
  private running: WasmExperts | undefined;
  private readonly deferred: WasmExperts[] = [];
  private liveExperts = 0;
  /** runExperts calls that were split over more than one thread (for tests and benchmarks). */
  threadedCalls = 0;
  /** Experts split by columns over all threaded calls (for tests and benchmarks). */
  columnSplits = 0;
  /** Jobs of a packing run on several threads (wasm-pack-threads.ts; for tests and benchmarks). */
  threadedPackJobs = 0;
  private readonly columns: ColumnPolicy;
  readonly weightWriter: DeviceWeightWriter | undefined;

  constructor(exports: WasmExports, threading?: WasmThreading & { module: WebAssembly.Module }) {
    this.wasm = exports;
    this.variant = exports.relaxed() === 1 ? 'relaxed-simd' : 'simd128';
    this.heap = new WasmHeap(exports.memory, exports.heapBase() >>> 0);
    this.scratch = new Scratch(this.heap);
    this.weightWriter = wasmWeightWriter(this.heap, exports);
    this.threadsAsked = threading?.threads ?? 1;
    this.blocking = threading?.blocking ?? (threading ? callerMayBlock() : true);
    this.columns = threading?.columns ?? 'auto';
    if (threading) {
      // Every instance over the shared memory re-applies the module's data segments, which include the
      // default accumulators' zeros: this thread's move to a block of their own before any worker starts.
      exports.useAccumulators(this.heap.alloc(ACCUMULATOR_BYTES));
      const ctrl = this.heap.alloc(4 * LAYOUT.words);
      this.heap.i32.fill(0, ctrl >>> 2, (ctrl >>> 2) + LAYOUT.words);
      this.pool = new WorkerPool(threading.provider, threading.module, exports.memory, this.heap, ctrl, threading.threads - 1);
    }
  }

  /** Threads runExperts splits its work over: options.threads, or 1 after a worker failed (threadsNote). */
  get threads(): number {
    return this.pool && this.pool.failure === undefined ? this.threadsAsked : 1;
  }

  /** Why this backend runs on fewer threads than it was asked for, if it does. */
  get threadsNote(): string | undefined {
    return this.pool?.failure;
  }

  get oneTimeWork(): number {
    return this.scratch.reallocations;
  }

  /** Threads running right now: workers start with the first prepared experts and stop with the last. */
  get activeThreads(): number {
    return this.pool && this.pool.failure === undefined ? 1 + this.pool.readyWorkers().length : 1;
  }

  /** Resolves, with activeThreads, once the workers of the prepared experts have started (or failed). */
  async threadsReady(): Promise<number> {
    if (this.pool && this.liveExperts > 0) await this.pool.start();
    return this.activeThreads;
  }

  async startThreads(maxMs: number): Promise<void> {
    if (!this.pool || this.pool.failure !== undefined) return;
    const started = this.pool.start();
    if (this.startWait?.started !== started) this.startWait = { started, deadline: Date.now() + maxMs };
    const left = this.startWait.deadline - Date.now();
    if (left <= 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, left); });
    try {
      await Promise.race([started, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  routerLogits(args: RouterLogitsArgs): Float32Array {
    const { hidden, weight, bias, nToken, dModel, nExpert } = args;
    const s = this.scratch;
    const span = Scratch.span;
    s.reserve(span(4 * nToken * dModel) + span(4 * nExpert * dModel) + span(4 * nExpert) + span(4 * nToken * nExpert));
    const hPtr = s.take(4 * nToken * dModel);
    const wPtr = s.take(4 * nExpert * dModel);
    const bPtr = s.take(4 * nExpert);
    const oPtr = s.take(4 * nToken * nExpert);
    const f32 = this.heap.f32;
    copyIn(f32, hidden, nToken * dModel, hPtr >>> 2);
    copyIn(f32, weight, nExpert * dModel, wPtr >>> 2);
    if (bias !== undefined) copyIn(f32, bias, nExpert, bPtr >>> 2);
    this.wasm.routerLogits(hPtr, wPtr, bias === undefined ? 0 : bPtr, oPtr, nToken, dModel, nExpert);
    s.check('routerLogits');
    return this.heap.f32.slice(oPtr >>> 2, (oPtr >>> 2) + nToken * nExpert);
  }

  /** Every router kind, its math in assembly/router/ (host side: wasm-router.ts). */
  route(spec: ResolvedRouterSpec, data: RouterData): RoutingCore {
    return routeOnWasm(this.wasm, this.heap, this.scratch, spec, data);
  }

  topKSoftmax(args: TopKSoftmaxArgs): TopKSoftmaxResult {
    const { logits, nToken, nExpert, nExpertUsed: k, normalize, scale } = args;
    const s = this.scratch;
    const span = Scratch.span;
    const nLogit = nToken * nExpert;
    s.reserve(2 * span(4 * nLogit) + 2 * span(4 * nToken * k));
    const lPtr = s.take(4 * nLogit);
    const pPtr = s.take(4 * nLogit);
    const iPtr = s.take(4 * nToken * k);
    const wPtr = s.take(4 * nToken * k);
    copyIn(this.heap.f32, logits, nLogit, lPtr >>> 2);
    this.wasm.topKSoftmax(lPtr, pPtr, iPtr, wPtr, nToken, nExpert, k, normalize ? 1 : 0, scale);
    s.check('topKSoftmax');
    const f32 = this.heap.f32;
    return {
      probs: f32.slice(pPtr >>> 2, (pPtr >>> 2) + nLogit),
      indices: this.heap.i32.slice(iPtr >>> 2, (iPtr >>> 2) + nToken * k),
      weights: f32.slice(wPtr >>> 2, (wPtr >>> 2) + nToken * k),
    };
  }

  buildPlan(indices: Int32Array, weights: Float32Array, nToken: number, nExpertUsed: number, nExpert: number): DispatchPlan {
    const nSlot = nToken * nExpertUsed;
    const s = this.scratch;
    const span = Scratch.span;
    s.reserve(5 * span(4 * nSlot) + span(4 * (nExpert + 1)) + span(4 * nExpert));
    const iPtr = s.take(4 * nSlot);
    const wPtr = s.take(4 * nSlot);
    const oPtr = s.take(4 * (nExpert + 1));
    const rPtr = s.take(4 * nSlot);
    const pwPtr = s.take(4 * nSlot);
    const slPtr = s.take(4 * nSlot);
    const cPtr = s.take(4 * nExpert);
    copyIn(this.heap.i32, indices, nSlot, iPtr >>> 2);
    copyIn(this.heap.f32, weights, nSlot, wPtr >>> 2);
    const nRow = this.wasm.buildPlan(iPtr, wPtr, nToken, nExpertUsed, nExpert, oPtr, rPtr, pwPtr, slPtr, cPtr);
    s.check('buildPlan');
    const i32 = this.heap.i32;
    return {
      offsets: i32.slice(oPtr >>> 2, (oPtr >>> 2) + nExpert + 1),
      rows: i32.slice(rPtr >>> 2, (rPtr >>> 2) + nRow),
      weights: this.heap.f32.slice(pwPtr >>> 2, (pwPtr >>> 2) + nRow),
      slots: i32.slice(slPtr >>> 2, (slPtr >>> 2) + nRow),
    };
  }

  /**
   * Packs experts into this backend's memory, stored as f32, f16 or block-wise int8 (wasm-pack.ts: converted
   * here, once, by the module; the kernels widen them in registers).
   */
  prepareExperts(weights: ExpertWeights, weightDtype: WasmWeightDtype = 'f32', name = 'experts'): PreparedExperts {
    const shape = this.checkExperts(weights, weightDtype, name);
    let ptrs: PackedPointers;
    try {
      ptrs = packExperts(this.heap, weights, shape, weightDtype, this.wasm, name, this.packThreads(this.blocking));
    } catch (e) {
      this.stopIdleWorkers();
      throw e;
    }
    return this.adopt(weights, weightDtype, shape, ptrs);
  }

  /**
   * prepareExperts without blocking the calling thread: where it may not block, the packing's thread jobs are
   * awaited, in turn with the awaited forwards of this backend's blocks; elsewhere, the same as prepareExperts.
   */
  async prepareExpertsAsync(weights: ExpertWeights, weightDtype: WasmWeightDtype = 'f32', name = 'experts'): Promise<PreparedExperts> {
    if (this.blocking || !this.pool) return this.prepareExperts(weights, weightDtype, name);
    const shape = this.checkExperts(weights, weightDtype, name);
    const turn = this.queue.then(async () => {
      const threads = this.packThreads(true);
      try {
        return threads
          ? await packExpertsAsync(this.heap, weights, shape, weightDtype, this.wasm, name, threads)
          : packExperts(this.heap, weights, shape, weightDtype, this.wasm, name);
      } catch (e) {
        this.stopIdleWorkers();
        throw e;
      }
    });
    this.queue = turn.catch(() => undefined);
    return this.adopt(weights, weightDtype, shape, await turn);
  }

  /** The experts' lengths checked (the f16 / int8 range is checked as they are packed, under their own names); their packed shape. */
  private checkExperts(weights: ExpertWeights, weightDtype: WasmWeightDtype, name: string): PackedShape {
    const { nExpert, dModel, dFF } = weights;
    const gated = isGated(weights.activation);
    // A projection read by rows (ExpertWeights.rows) had its shape checked where it was made, and asking
    // for its length would make its whole f32 array.
    if (gated && !weights.rows?.gate) expectLength(`${name}.gate`, weights.gate, nExpert * dFF * dModel);
    if (!weights.rows?.up) expectLength(`${name}.up`, weights.up, nExpert * dFF * dModel);
    if (!weights.rows?.down) expectLength(`${name}.down`, weights.down, nExpert * dModel * dFF);
    if (gated && weights.gateBias) expectLength(`${name}.gate_bias`, weights.gateBias, nExpert * dFF);
    if (weights.upBias) expectLength(`${name}.up_bias`, weights.upBias, nExpert * dFF);
    if (weights.downBias) expectLength(`${name}.down_bias`, weights.downBias, nExpert * dModel);
    return packedShape(weights.activation, dModel, dFF, weightDtype);
  }

  /** Workers started for a packing (startThreads) that failed, with no experts left to run: stopped again. */
  private stopIdleWorkers(): void {
    if (this.liveExperts === 0) this.pool?.terminate();
  }

  /** Experts over packed blocks; the workers start with the first (or keep running). */
  private adopt(weights: ExpertWeights, weightDtype: WasmWeightDtype, shape: PackedShape, ptrs: PackedPointers): WasmExperts {
    const experts = new WasmExperts(this, weights, weightDtype, shape, ptrs);
    this.liveExperts++;
    if (this.pool && this.pool.failure === undefined) void this.pool.start();
    return experts;
  }

  /** The ready workers a packing may run on (wasm-pack-threads.ts), if the pool is free and its jobs may run (blocking, or awaited). */
  private packThreads(mayRun: boolean): PackThreadsOf | undefined {
    const pool = this.pool;
    // A module without packItem (an injected older build) would take ITEM_PACK for an expert's item.
    const { packItem } = this.wasm as Partial<PackItemExports>;
    if (!mayRun || !pool || pool.failure !== undefined || pool.busy || typeof packItem !== 'function') return undefined;
    const participants = pool.readyWorkers();
    return participants.length > 0 ? { pool, participants, wasm: { packItem }, onJob: () => this.threadedPackJobs++ } : undefined;
  }

  /**
   * Called by WasmExperts.destroy(). The last experts gone, the workers go too (nothing left to run).
   * Experts an awaited job is running are released when it settles: its workers still read them.
   */
  releaseExperts(experts: WasmExperts): void {
    if (experts === this.running) {
      this.deferred.push(experts);
      return;
    }
    for (const p of Object.values(experts.ptrs)) if (p !== 0) this.heap.release(p);
    if (--this.liveExperts === 0) this.pool?.terminate();
  }

  runExperts(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Float32Array {
    const run = checkRun(this, experts, nToken, plan);
    // Threaded here only where this thread may block, and while no awaited job holds the pool.
    const split = this.blocking ? this.split(run, plan) : undefined;
    if (split) {
      this.threadedCalls++;
      return runExpertsThreaded(this.pool!, split.participants, this.heap, this.scratch, this.wasm, run.experts, hidden, nToken, plan, run.nSlot, split.work);
    }
    return runExpertsSinglePass(this.heap, this.scratch, this.wasm, run, hidden, nToken, plan);
  }

  /**
   * runExperts without blocking the calling thread: on a thread that may not block, a threaded job is
   * awaited (jobs on one backend take turns); everywhere else, the same as runExperts. Same result.
   */
  runExpertsAsync(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Promise<Float32Array> {
    if (this.blocking || !this.pool) return new Promise((resolve) => resolve(this.runExperts(experts, hidden, nToken, plan)));
    // Checked now, so a bad call fails at once; checked again in its turn (the experts may be gone by then).
    try {
      checkRun(this, experts, nToken, plan);
    } catch (e) {
      return Promise.reject(e);
    }
    const turn = this.queue.then(() => this.runAwaited(experts, hidden, nToken, plan));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runAwaited(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Promise<Float32Array> {
    const run = checkRun(this, experts, nToken, plan);
    const split = this.split(run, plan);
    if (!split) return runExpertsSinglePass(this.heap, this.scratch, this.wasm, run, hidden, nToken, plan);
    this.threadedCalls++;
    this.running = run.experts;
    try {
      this.jobScratch ??= new Scratch(this.heap);
      return await runExpertsThreadedAsync(this.pool!, split.participants, this.heap, this.jobScratch, this.wasm, run.experts, hidden, nToken, plan, run.nSlot, split.work);
    } finally {
      this.running = undefined;
      for (const e of this.deferred.splice(0)) this.releaseExperts(e);
    }
  }

  /** The ready workers and the plan's items, when the run is worth splitting and the pool is free. */
  private split(run: CheckedRun, plan: DispatchPlan): { participants: number[]; work: WorkItems } | undefined {
    const pool = this.pool;
    if (!pool || pool.failure !== undefined || pool.busy) return undefined;
    const participants = pool.readyWorkers();
    if (participants.length === 0) return undefined;
    const { dModelK, dFFPad, dModelPad, nPanel } = run.experts.shape;
    const work = splitWork(plan.offsets, run.experts.nExpert, participants.length + 1,
      { dModelK, gateUpPanels: nPanel, dFFPad, downPanels: dModelPad / 8 }, this.columns);
    // One item is one thread's work: waking a worker to find nothing left would only add latency.
    if (work.nItem <= 1) return undefined;
    this.columnSplits += work.columns.length;
    return { participants, work };
  }
}

/** Initial pages of a threaded backend's memory (the modules' static data takes well under one). */
const SHARED_INITIAL_PAGES = 17;
/** wasm32's whole range: a shared memory cannot move when it grows, so engines reserve its maximum up front. */
const SHARED_MAXIMUM_PAGES = 65536;

/**
 * Instantiates the WASM path from a compiled switchyard module (either build). With `threading`, the
 * module is a shared-memory build: this creates the shared memory it imports, and the backend splits
 * runExperts over `threading.threads` threads.
 *
 * @example
 * const { module } = await loadWasmModule({});
 * const wasm = await createWasmBackend(module);
 * console.log(wasm.variant); // 'simd128' or 'relaxed-simd'
 */
export async function createWasmBackend(module: WebAssembly.Module, threading?: WasmThreading): Promise<WasmBackend> {
  let instance: WebAssembly.Instance;
  try {
    const imports: WebAssembly.Imports = threading
      ? { env: { memory: new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: SHARED_MAXIMUM_PAGES, shared: true }) } }
      : {};
    instance = await WebAssembly.instantiate(module, imports);
  } catch (e) {
    throw new SwitchyardError('backend', 'options.wasmModule',
      `expected a switchyard WASM module that instantiates ${threading ? 'over a shared memory' : 'without imports'}, instantiation failed: ${String(e)}`);
  }
  const exports = instance.exports as Record<string, unknown>;
  for (const name of threading ? [...REQUIRED_EXPORTS, ...THREAD_EXPORTS] : REQUIRED_EXPORTS) {
    if (exports[name] === undefined) {
      throw new SwitchyardError('backend', 'options.wasmModule', `expected a switchyard WASM module exporting ${name}, received one without it`);
    }
  }
  return new WasmBackend(exports as unknown as WasmExports, threading && { ...threading, module });
}
