// runExperts on the calling thread alone: the plan check every run starts with, and the one-pass kernel
// call (assembly/ffn/experts.ts). The threaded runs (wasm-threads.ts) share the check, not the pass.
import { SwitchyardError } from '../errors.js';
import type { DispatchPlan } from '../spec/types.js';
import type { PreparedExperts } from './backend.js';
import { copyHidden, copyIn, Scratch, type WasmHeap } from './wasm-heap.js';
import { kernelScratchBytes, WasmExperts, type ExpertOwner } from './wasm-experts.js';

/** The one-pass export (assembly/index.ts); every pointer is a byte offset into the module's memory. */
export interface SinglePassExports {
  runExperts(
    weightType: number, gateUpPacked: number, gateUpScales: number, gateUpBias: number,
    downPacked: number, downScales: number, downBias: number, nExpert: number, dModel: number, dFF: number, activation: number, alpha: number, limit: number,
    hidden: number, nToken: number,
    offsets: number, rows: number, weights: number, slots: number, nRow: number,
    tiles: number, h: number, y: number, kernelScratch: number, order: number, nSlot: number, out: number,
  ): void;
}

export function expectLength(argument: string, array: ArrayLike<number>, expected: number): void {
  if (array.length < expected) {
    throw new SwitchyardError('shape', argument, `expected at least ${expected} elements, received ${array.length}`);
  }
}

export interface CheckedRun {
  experts: WasmExperts;
  /** Slots the combine covers: 1 + the largest plan slot */
  nSlot: number;
  /** Most rows of one expert */
  maxRows: number;
}

/** The kernels trust the plan for addresses: it is checked here so a bad plan cannot write out of bounds. */
export function checkRun(owner: ExpertOwner, experts: PreparedExperts, nToken: number, plan: DispatchPlan): CheckedRun {
  if (!(experts instanceof WasmExperts) || experts.owner !== owner) {
    throw new SwitchyardError('backend', 'experts', 'expected experts prepared by this wasm backend, received others');
  }
  if (experts.destroyed) throw new SwitchyardError('backend', 'experts', 'expected live experts, received destroyed ones');
  const { nExpert } = experts;
  const { offsets, rows, weights, slots } = plan;
  const nRow = rows.length;
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
  return { experts, nSlot, maxRows };
}

/** Every expert's rows in one kernel call on this thread. */
export function runExpertsSinglePass(
  heap: WasmHeap, s: Scratch, wasm: SinglePassExports, run: CheckedRun, hidden: Float32Array, nToken: number, plan: DispatchPlan,
): Float32Array {
  const { experts, nSlot, maxRows } = run;
  const { nExpert, dModel, dFF } = experts;
  const { offsets, rows, weights, slots } = plan;
  const nRow = rows.length;
  const { dModelK, dFFPad, dModelPad } = experts.shape;
  // Row tiles round an expert's rows up to 4 (assembly/ffn/pack.ts).
  const maxRows4 = Math.ceil(maxRows / 4) * 4;
  const kernelBytes = kernelScratchBytes(experts.weightDtype, maxRows4, experts.shape);
  const span = Scratch.span;
  s.reserve(span(4 * nToken * dModelK) + span(4 * nToken * dModel) + span(4 * (nExpert + 1)) + 3 * span(4 * nRow)
    + span(4 * maxRows4 * dModelK) + span(4 * maxRows4 * dFFPad) + span(kernelBytes) + span(4 * nRow * dModelPad) + span(4 * nSlot));
  const xPtr = s.take(4 * nToken * dModelK);
  const oPtr = s.take(4 * (nExpert + 1));
  const rPtr = s.take(4 * nRow);
  const wPtr = s.take(4 * nRow);
  const slPtr = s.take(4 * nRow);
  const tPtr = s.take(4 * maxRows4 * dModelK);
  const hPtr = s.take(4 * maxRows4 * dFFPad);
  const kernelPtr = s.take(kernelBytes);
  const yPtr = s.take(4 * nRow * dModelPad);
  const ordPtr = s.take(4 * nSlot);
  const outPtr = s.take(4 * nToken * dModel);
  const f32 = heap.f32;
  const i32 = heap.i32;
  copyHidden(f32, hidden, nToken, dModel, dModelK, xPtr >>> 2);
  copyIn(i32, offsets, nExpert + 1, oPtr >>> 2);
  copyIn(i32, rows, nRow, rPtr >>> 2);
  copyIn(f32, weights, nRow, wPtr >>> 2);
  copyIn(i32, slots, nRow, slPtr >>> 2);
  const p = experts.ptrs;
  wasm.runExperts(experts.weightType, p.gateUp, p.gateUpScales, p.gateUpBias, p.down, p.downScales, p.downBias,
    nExpert, dModel, dFF, experts.activation, experts.alpha, experts.limit, xPtr, nToken,
    oPtr, rPtr, wPtr, slPtr, nRow, tPtr, hPtr, yPtr, kernelPtr, ordPtr, nSlot, outPtr);
  s.check('runExperts');
  return heap.f32.slice(outPtr >>> 2, (outPtr >>> 2) + nToken * dModel);
}
