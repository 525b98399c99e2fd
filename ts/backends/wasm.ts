// The WASM path: AssemblyScript SIMD kernels (assembly/) behind the CpuBackend interface. Inputs are
// copied into per-call scratch in the module's memory, kernels run on raw pointers, results are copied
// out into fresh arrays (the only per-call allocations). Expert weights are packed once, at prepare time.
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import { SwitchyardError } from '../errors.js';
import type { DispatchPlan } from '../spec/types.js';
import type {
  CpuBackend, ExpertWeights, PreparedExperts, RouterLogitsArgs, RoutingCore, TopKSoftmaxArgs, TopKSoftmaxResult,
} from './backend.js';
import { copyIn, Scratch, WasmHeap } from './wasm-heap.js';
import { ROUTER_EXPORTS, routeOnWasm, type WasmRouterExports } from './wasm-router.js';

/** The module's exports (assembly/index.ts); every pointer is a byte offset into `memory`. */
interface WasmExports extends WasmRouterExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  relaxed(): number;
  topKSoftmax(
    logits: number, probs: number, indices: number, weights: number,
    nToken: number, nExpert: number, k: number, normalize: number, scale: number,
  ): void;
  runExperts(
    gateUpPacked: number, downPacked: number, nExpert: number, dModel: number, dFF: number,
    hidden: number, nToken: number,
    offsets: number, rows: number, weights: number, slots: number, nRow: number,
    h: number, y: number, order: number, nSlot: number, out: number,
  ): void;
}

const REQUIRED_EXPORTS = ['memory', 'heapBase', 'relaxed', 'topKSoftmax', 'runExperts', ...ROUTER_EXPORTS] as const;

/** Panel widths of the packed layout; must match assembly/ffn/layout.ts. */
const GU_COLS = 4;
const DOWN_COLS = 8;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Experts packed into this backend's memory (layout: assembly/ffn/layout.ts). */
class WasmExperts implements PreparedExperts {
  readonly nExpert: number;
  readonly dModel: number;
  readonly dFF: number;
  readonly owner: WasmBackend;
  /** [nExpert, dFFPad / 4, dModel, 8] */
  readonly gateUpPtr: number;
  /** [nExpert, dModelPad / 8, dFFPad, 8] */
  readonly downPtr: number;
  private released = false;

  constructor(owner: WasmBackend, w: ExpertWeights, gateUpPtr: number, downPtr: number) {
    this.owner = owner;
    this.nExpert = w.nExpert;
    this.dModel = w.dModel;
    this.dFF = w.dFF;
    this.gateUpPtr = gateUpPtr;
    this.downPtr = downPtr;
  }

  get destroyed(): boolean {
    return this.released;
  }

  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.owner.releaseExperts(this);
  }
}

/** Writes gate/up into [nExpert, dFFPad/4, dModel, 8] panels: gate rows 4p..4p+3 then up rows, per input index. */
function packGateUp(dst: Float32Array, base: number, w: ExpertWeights, dFFPad: number): void {
  const { nExpert, dModel, dFF, gate, up } = w;
  const expertFloats = dFFPad * dModel * 2;
  dst.fill(0, base, base + nExpert * expertFloats);
  for (let e = 0; e < nExpert; e++) {
    for (let n = 0; n < dFF; n++) {
      const src = (e * dFF + n) * dModel;
      const col = n % GU_COLS;
      let o = base + e * expertFloats + Math.floor(n / GU_COLS) * dModel * 2 * GU_COLS + col;
      for (let i = 0; i < dModel; i++, o += 2 * GU_COLS) {
        dst[o] = gate[src + i];
        dst[o + GU_COLS] = up[src + i];
      }
    }
  }
}

/** Writes down into [nExpert, dModelPad/8, dFFPad, 8] panels: rows 8q..8q+7, per input index. */
function packDown(dst: Float32Array, base: number, w: ExpertWeights, dFFPad: number, dModelPad: number): void {
  const { nExpert, dModel, dFF, down } = w;
  const expertFloats = dModelPad * dFFPad;
  dst.fill(0, base, base + nExpert * expertFloats);
  for (let e = 0; e < nExpert; e++) {
    for (let m = 0; m < dModel; m++) {
      const src = (e * dModel + m) * dFF;
      let o = base + e * expertFloats + Math.floor(m / DOWN_COLS) * dFFPad * DOWN_COLS + (m % DOWN_COLS);
      for (let i = 0; i < dFF; i++, o += DOWN_COLS) dst[o] = down[src + i];
    }
  }
}

function expectLength(argument: string, array: ArrayLike<number>, expected: number): void {
  if (array.length < expected) {
    throw new SwitchyardError('shape', argument, `expected at least ${expected} elements, received ${array.length}`);
  }
}

export class WasmBackend implements CpuBackend {
  readonly name = 'wasm' as const;
  /** Which kernels run: plain SIMD128, or relaxed-SIMD with fused multiply-add. */
  readonly variant: 'simd128' | 'relaxed-simd';
  private readonly wasm: WasmExports;
  private readonly heap: WasmHeap;
  private readonly scratch: Scratch;

  constructor(exports: WasmExports) {
    this.wasm = exports;
    this.variant = exports.relaxed() === 1 ? 'relaxed-simd' : 'simd128';
    this.heap = new WasmHeap(exports.memory, exports.heapBase() >>> 0);
    this.scratch = new Scratch(this.heap);
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

  prepareExperts(weights: ExpertWeights): PreparedExperts {
    const { nExpert, dModel, dFF } = weights;
    expectLength('experts.gate', weights.gate, nExpert * dFF * dModel);
    expectLength('experts.up', weights.up, nExpert * dFF * dModel);
    expectLength('experts.down', weights.down, nExpert * dModel * dFF);
    const dFFPad = roundUp(dFF, GU_COLS);
    const dModelPad = roundUp(dModel, DOWN_COLS);
    const guPtr = this.heap.alloc(4 * nExpert * dFFPad * dModel * 2);
    let downPtr: number;
    try {
      downPtr = this.heap.alloc(4 * nExpert * dModelPad * dFFPad);
    } catch (e) {
      this.heap.release(guPtr);
      throw e;
    }
    const f32 = this.heap.f32;
    packGateUp(f32, guPtr >>> 2, weights, dFFPad);
    packDown(f32, downPtr >>> 2, weights, dFFPad, dModelPad);
    return new WasmExperts(this, weights, guPtr, downPtr);
  }

  /** Called by WasmExperts.destroy(). */
  releaseExperts(experts: WasmExperts): void {
    this.heap.release(experts.gateUpPtr);
    this.heap.release(experts.downPtr);
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
    const dFFPad = roundUp(dFF, GU_COLS);
    const dModelPad = roundUp(dModel, DOWN_COLS);
    const s = this.scratch;
    const span = Scratch.span;
    s.reserve(2 * span(4 * nToken * dModel) + span(4 * (nExpert + 1)) + 3 * span(4 * nRow)
      + span(4 * maxRows * dFFPad) + span(4 * nRow * dModelPad) + span(4 * nSlot));
    const xPtr = s.take(4 * nToken * dModel);
    const oPtr = s.take(4 * (nExpert + 1));
    const rPtr = s.take(4 * nRow);
    const wPtr = s.take(4 * nRow);
    const slPtr = s.take(4 * nRow);
    const hPtr = s.take(4 * maxRows * dFFPad);
    const yPtr = s.take(4 * nRow * dModelPad);
    const ordPtr = s.take(4 * nSlot);
    const outPtr = s.take(4 * nToken * dModel);
    const f32 = this.heap.f32;
    const i32 = this.heap.i32;
    copyIn(f32, hidden, nToken * dModel, xPtr >>> 2);
    copyIn(i32, offsets, nExpert + 1, oPtr >>> 2);
    copyIn(i32, rows, nRow, rPtr >>> 2);
    copyIn(f32, weights, nRow, wPtr >>> 2);
    copyIn(i32, slots, nRow, slPtr >>> 2);
    this.wasm.runExperts(experts.gateUpPtr, experts.downPtr, nExpert, dModel, dFF, xPtr, nToken,
      oPtr, rPtr, wPtr, slPtr, nRow, hPtr, yPtr, ordPtr, nSlot, outPtr);
    s.check('runExperts');
    return this.heap.f32.slice(outPtr >>> 2, (outPtr >>> 2) + nToken * dModel);
  }
}

/**
 * Instantiates the WASM path from a compiled switchyard module (either build).
 *
 * @example
 * const { module } = await loadWasmModule({});
 * const wasm = await createWasmBackend(module);
 * console.log(wasm.variant); // 'simd128' or 'relaxed-simd'
 */
export async function createWasmBackend(module: WebAssembly.Module): Promise<WasmBackend> {
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, {});
  } catch (e) {
    throw new SwitchyardError('backend', 'options.wasmModule',
      `expected a switchyard WASM module that instantiates without imports, instantiation failed: ${String(e)}`);
  }
  const exports = instance.exports as Record<string, unknown>;
  for (const name of REQUIRED_EXPORTS) {
    if (exports[name] === undefined) {
      throw new SwitchyardError('backend', 'options.wasmModule', `expected a switchyard WASM module exporting ${name}, received one without it`);
    }
  }
  return new WasmBackend(exports as unknown as WasmExports);
}
