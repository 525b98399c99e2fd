// The WASM path: AssemblyScript SIMD kernels (assembly/) behind the CpuBackend interface. Inputs are
// copied into per-call scratch in the module's memory, kernels run on raw pointers, results are copied
// out into fresh arrays (the only per-call allocations). Expert weights are packed once, at prepare time.
// Over a shared-memory build (options.threads > 1) runExperts also runs on worker threads: wasm-threads.ts
// splits the work, wasm-pool.ts runs the workers; everything else stays on the calling thread.
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import { SwitchyardError } from '../errors.js';
import type { DispatchPlan } from '../spec/types.js';
import {
  isGated, type CpuBackend, type ExpertWeights, type PreparedExperts, type RouterLogitsArgs, type RoutingCore,
  type TopKSoftmaxArgs, type TopKSoftmaxResult,
} from './backend.js';
import { copyHidden, copyIn, Scratch, WasmHeap } from './wasm-heap.js';
import { packedShape, packExperts, WasmExperts, type ExpertOwner, type WasmWeightDtype } from './wasm-experts.js';
import { ROUTER_EXPORTS, routeOnWasm, type WasmRouterExports } from './wasm-router.js';
import type { ThreadProvider } from '../runtime/providers.js';
import { LAYOUT, WorkerPool } from './wasm-pool.js';
import { runExpertsThreaded, splitWork, type ThreadedExports } from './wasm-threads.js';

/** The module's exports (assembly/index.ts); every pointer is a byte offset into `memory`. */
interface WasmExports extends WasmRouterExports, ThreadedExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  relaxed(): number;
  topKSoftmax(
    logits: number, probs: number, indices: number, weights: number,
    nToken: number, nExpert: number, k: number, normalize: number, scale: number,
  ): void;
  runExperts(
    weightType: number, gateUpPacked: number, gateUpScales: number, gateUpBias: number,
    downPacked: number, downScales: number, downBias: number, nExpert: number, dModel: number, dFF: number, activation: number, alpha: number, limit: number,
    hidden: number, nToken: number,
    offsets: number, rows: number, weights: number, slots: number, nRow: number,
    tiles: number, h: number, y: number, q8: number, order: number, nSlot: number, out: number,
  ): void;
}

/** What runs the workers of a shared-memory build (ts/runtime/threads.ts decides when this is possible). */
export interface WasmThreading {
  provider: ThreadProvider;
  /** Threads including the calling one, ≥ 2 */
  threads: number;
}

const REQUIRED_EXPORTS = ['memory', 'heapBase', 'relaxed', 'topKSoftmax', 'runExperts', ...ROUTER_EXPORTS] as const;
const THREAD_EXPORTS = ['runExpertRows', 'combineExperts', 'useAccumulators'] as const;

function expectLength(argument: string, array: ArrayLike<number>, expected: number): void {
  if (array.length < expected) {
    throw new SwitchyardError('shape', argument, `expected at least ${expected} elements, received ${array.length}`);
  }
}

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
  private liveExperts = 0;
  /** runExperts calls that were split over more than one thread (for tests and benchmarks). */
  threadedCalls = 0;

  constructor(exports: WasmExports, threading?: WasmThreading & { module: WebAssembly.Module }) {
    this.wasm = exports;
    this.variant = exports.relaxed() === 1 ? 'relaxed-simd' : 'simd128';
    this.heap = new WasmHeap(exports.memory, exports.heapBase() >>> 0);
    this.scratch = new Scratch(this.heap);
    this.threadsAsked = threading?.threads ?? 1;
    if (threading) {
      // Every instance over the shared memory re-applies the module's data segments, which include the
      // default accumulators' zeros: this thread's move to a block of their own before any worker starts.
      exports.useAccumulators(this.heap.alloc(128));
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

  /** Threads running right now: workers start with the first prepared experts and stop with the last. */
  get activeThreads(): number {
    return this.pool && this.pool.failure === undefined ? 1 + this.pool.readyWorkers().length : 1;
  }

  /** Resolves, with activeThreads, once the workers of the prepared experts have started (or failed). */
  async threadsReady(): Promise<number> {
    if (this.pool && this.liveExperts > 0) await this.pool.start();
    return this.activeThreads;
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
   * Packs experts into this backend's memory, stored as f32, f16 or block-wise int8 (wasm-quant.ts:
   * converted here, once; the kernels widen them in registers).
   */
  prepareExperts(weights: ExpertWeights, weightDtype: WasmWeightDtype = 'f32'): PreparedExperts {
    const { nExpert, dModel, dFF } = weights;
    const gated = isGated(weights.activation);
    if (gated) expectLength('experts.gate', weights.gate, nExpert * dFF * dModel);
    expectLength('experts.up', weights.up, nExpert * dFF * dModel);
    expectLength('experts.down', weights.down, nExpert * dModel * dFF);
    if (gated && weights.gateBias) expectLength('experts.gate_bias', weights.gateBias, nExpert * dFF);
    if (weights.upBias) expectLength('experts.up_bias', weights.upBias, nExpert * dFF);
    if (weights.downBias) expectLength('experts.down_bias', weights.downBias, nExpert * dModel);
    const shape = packedShape(weights.activation, dModel, dFF, weightDtype);
    const prepared = new WasmExperts(this, weights, weightDtype, shape, packExperts(this.heap, weights, shape, weightDtype));
    this.liveExperts++;
    if (this.pool && this.pool.failure === undefined) void this.pool.start();
    return prepared;
  }

  /** Called by WasmExperts.destroy(). The last experts gone, the workers go too (nothing left to run). */
  releaseExperts(experts: WasmExperts): void {
    for (const p of Object.values(experts.ptrs)) if (p !== 0) this.heap.release(p);
    if (--this.liveExperts === 0) this.pool?.terminate();
  }

  runExperts(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Float32Array {
    if (!(experts instanceof WasmExperts) || experts.owner !== this) {
      throw new SwitchyardError('backend', 'experts', 'expected experts prepared by this wasm backend, received others');
    }
    if (experts.destroyed) throw new SwitchyardError('backend', 'experts', 'expected live experts, received destroyed ones');
    const { nExpert, dModel, dFF } = experts;
    const { offsets, rows, weights, slots } = plan;
    const nRow = rows.length;
    // The kernels trust the plan for addresses: check it here so a bad plan cannot write out of bounds.
    expectLength('plan.offsets', offsets, nExpert + 1);
    expectLength('plan.weights', weights, nRow);
    expectLength('plan.slots', slots, nRow);
    let maxRows = 0;
    for (let e = 0; e < nExpert; e++) {
      const n = offsets[e + 1] - offsets[e];
      if (offsets[e] < 0 || n < 0 || offsets[e + 1] > nRow) {
        throw new SwitchyardError('range', 'plan.offsets',
          `expected non-decreasing offsets within [0, ${nRow}], received ${offsets[e]}..${offsets[e + 1]} for expert ${e}`);
      }
      if (n > maxRows) maxRows = n;
    }
    let nSlot = 0;
    for (let r = 0; r < nRow; r++) {
      if (!(rows[r] >= 0 && rows[r] < nToken)) {
        throw new SwitchyardError('range', 'plan.rows', `expected tokens in [0, ${nToken}), received ${rows[r]} at row ${r}`);
      }
      if (slots[r] + 1 > nSlot) nSlot = slots[r] + 1;
    }
    const participants = this.pool && this.pool.failure === undefined ? this.pool.readyWorkers() : [];
    if (participants.length > 0) {
      const work = splitWork(offsets, nExpert, participants.length + 1);
      // One item is one thread's work: waking a worker to find nothing left would only add latency.
      if (work.nItem > 1) {
        this.threadedCalls++;
        return runExpertsThreaded(this.pool!, participants, this.heap, this.scratch, this.wasm, experts, hidden, nToken, plan, nSlot, work);
      }
    }
    const { dModelK, dFFPad, dModelPad } = experts.shape;
    // Row tiles round an expert's rows up to 4 (assembly/ffn/pack.ts).
    const maxRows4 = Math.ceil(maxRows / 4) * 4;
    // int8: an expert's rows rounded to i16 with their scales (assembly/ffn/q8.ts); 0 for other types.
    const q8Bytes = experts.weightDtype === 'int8' ? 4 * (maxRows4 + 1) * Math.max(dModelK, dFFPad) : 0;
    const s = this.scratch;
    const span = Scratch.span;
    s.reserve(span(4 * nToken * dModelK) + span(4 * nToken * dModel) + span(4 * (nExpert + 1)) + 3 * span(4 * nRow)
      + span(4 * maxRows4 * dModelK) + span(4 * maxRows4 * dFFPad) + span(q8Bytes) + span(4 * nRow * dModelPad) + span(4 * nSlot));
    const xPtr = s.take(4 * nToken * dModelK);
    const oPtr = s.take(4 * (nExpert + 1));
    const rPtr = s.take(4 * nRow);
    const wPtr = s.take(4 * nRow);
    const slPtr = s.take(4 * nRow);
    const tPtr = s.take(4 * maxRows4 * dModelK);
    const hPtr = s.take(4 * maxRows4 * dFFPad);
    const q8Ptr = s.take(q8Bytes);
    const yPtr = s.take(4 * nRow * dModelPad);
    const ordPtr = s.take(4 * nSlot);
    const outPtr = s.take(4 * nToken * dModel);
    const f32 = this.heap.f32;
    const i32 = this.heap.i32;
    copyHidden(f32, hidden, nToken, dModel, dModelK, xPtr >>> 2);
    copyIn(i32, offsets, nExpert + 1, oPtr >>> 2);
    copyIn(i32, rows, nRow, rPtr >>> 2);
    copyIn(f32, weights, nRow, wPtr >>> 2);
    copyIn(i32, slots, nRow, slPtr >>> 2);
    const p = experts.ptrs;
    this.wasm.runExperts(experts.weightType, p.gateUp, p.gateUpScales, p.gateUpBias, p.down, p.downScales, p.downBias,
      nExpert, dModel, dFF, experts.activation, experts.alpha, experts.limit, xPtr, nToken,
      oPtr, rPtr, wPtr, slPtr, nRow, tPtr, hPtr, yPtr, q8Ptr, ordPtr, nSlot, outPtr);
    s.check('runExperts');
    return this.heap.f32.slice(outPtr >>> 2, (outPtr >>> 2) + nToken * dModel);
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
