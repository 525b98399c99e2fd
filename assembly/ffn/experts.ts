// Experts over a dispatch plan: for each expert e with rows offsets[e] .. offsets[e+1]
//   h = act(gate_e x + gateBias_e, up_e x + upBias_e)   (gate-up.ts; ungated: act(up_e x + upBias_e))
//   y = down_e h + downBias_e                           (down.ts, one y row per plan row)
// then a deterministic per-token combine out[t] = Σ_j w_tj · y (combine.ts). Experts with no rows cost
// nothing. Weights are stored as f32, f16 or block-wise int8 (weights.ts); the reduction lengths are
// padded to 4 (f32, f16) or Q8_BLOCK (int8), and the host pads hidden rows to match.
// runExperts does it all on the calling thread; the threaded host (ts/backends/wasm-threads.ts) instead
// hands work items to runExpertItem on several threads, then calls combineExperts once. An item is
//   ITEM_ROWS      rows of one expert, both projections (an expert with many rows, cut by rows), or
//   ITEM_GATE_UP   gate/up panels [p0, p1) of one expert for all its rows, into an h the threads share,
//   ITEM_DOWN      down panels [q0, q1) of that expert from the shared h, once every ITEM_GATE_UP item of
//                  it has finished (the host runs them as a second job):
// the column split, for an expert with few rows, where cutting rows would make each thread stream all
// of the expert's weights for a handful of rows. A load's job has items of its own, ITEM_PACK: one chunk of a
// projection's packing (pack-item.ts), with the thread's tiles and h as its staging and panels.
import { isGated } from './activation';
import { combine } from './combine';
import { down } from './down';
import { gateUp } from './gate-up';
import { GATED_COLS, PANEL, roundUp } from './layout';
import { packTiles } from './pack';
import { packItem } from './pack-item';
import { isQ8, Q8_BLOCK, WEIGHT_F16, WEIGHT_INT8 } from './weights';

export const ITEM_ROWS: i32 = 0;
export const ITEM_GATE_UP: i32 = 1;
export const ITEM_DOWN: i32 = 2;
/** Not an expert's work: one chunk of the threaded load's packing (pack-item.ts), its description at `expert`. */
export const ITEM_PACK: i32 = 3;

/**
 * Rows r0 .. r0+n−1 of expert e (plan rows; y rows at the same indices), weights stored as W; an item of
 * the given kind, panels [p0, p1) for the column kinds. A range that starts on a multiple of 4 rows of
 * the expert's first row cuts no tile, so its rows go through the same kernels on the same tiles as in
 * one pass over all of the expert's rows; a panel range that starts on a multiple of 4 panels keeps the
 * kernels of every column (gate-up.ts, down.ts). That is what lets the threaded path split an expert,
 * either way, and still match runExperts bit for bit.
 * h: ITEM_ROWS writes and reads its own; ITEM_GATE_UP writes hShared's columns [p0, p1); ITEM_DOWN reads
 * hShared and takes h as the place for its f16 copy (down.ts hFold). tiles and kernelScratch are the caller's own.
 */
function expertItemOf<W>(
  gu: usize, guScales: usize, guBias: usize, dn: usize, dnScales: usize, dnBias: usize,
  dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, rows: usize, kind: i32, e: i32, r0: i32, n: i32, p0: i32, p1: i32, hShared: usize,
  tiles: usize, h: usize, y: usize, kernelScratch: usize,
): void {
  const gated = isGated(act);
  const kAlign = isQ8<W>() ? Q8_BLOCK : 4;
  const dModelK = roundUp(dModel, kAlign);
  const dFFPad = roundUp(dFF, max(kAlign, gated ? GATED_COLS : PANEL));
  const dModelPad = roundUp(dModel, PANEL);
  const nPanel = gated ? dFFPad / GATED_COLS : dFFPad / PANEL;
  const guBytes = <usize>nPanel * <usize>dModelK * <usize>(sizeof<W>() << 3);
  const guScaleBytes = (<usize>nPanel * <usize>(dModelK / Q8_BLOCK)) << 4;
  const guBiasBytes = <usize>nPanel << 5;
  const dnBytes = <usize>dModelPad * <usize>dFFPad * <usize>sizeof<W>();
  const dnScaleBytes = (<usize>(dModelPad / PANEL) * <usize>(dFFPad / Q8_BLOCK)) << 4;
  const yStride = <usize>dModelPad << 2;
  const nPanelDown = dModelPad / PANEL;
  const expertRows = rows + (<usize>r0 << 2);
  if (kind != ITEM_DOWN) {
    packTiles(hidden, expertRows, n, dModelK, tiles);
    const gateUpOut = kind == ITEM_ROWS ? h : hShared;
    gateUp<W>(hidden, expertRows, n, dModelK, tiles, gu + <usize>e * guBytes, guScales + <usize>e * guScaleBytes,
      guBias ? guBias + <usize>e * guBiasBytes : 0, dFFPad, gateUpOut, act, alpha, limit, kernelScratch,
      kind == ITEM_ROWS ? 0 : p0, kind == ITEM_ROWS ? nPanel : p1);
    if (kind == ITEM_GATE_UP) return;
  }
  // ITEM_ROWS folds its own h in place; ITEM_DOWN must leave the shared h as it is for the other threads.
  const hIn = kind == ITEM_ROWS ? h : hShared;
  down<W>(hIn, n, dFFPad, dn + <usize>e * dnBytes, dnScales + <usize>e * dnScaleBytes,
    dnBias ? dnBias + <usize>e * yStride : 0, dModelPad, y + <usize>r0 * yStride, kernelScratch,
    kind == ITEM_ROWS ? 0 : p0, kind == ITEM_ROWS ? nPanelDown : p1, h);
}

/** An item (expertItemOf) of rows [r0, r1) of expert e, for the storage type given at run time (WEIGHT_*). */
function expertItem(
  weightType: i32, gu: usize, guScales: usize, guBias: usize, dn: usize, dnScales: usize, dnBias: usize,
  dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, rows: usize, kind: i32, e: i32, r0: i32, r1: i32, p0: i32, p1: i32, hShared: usize,
  tiles: usize, h: usize, y: usize, kernelScratch: usize,
): void {
  const n = r1 - r0;
  if (n <= 0) return;
  if (weightType == WEIGHT_INT8) {
    expertItemOf<i8>(gu, guScales, guBias, dn, dnScales, dnBias, dModel, dFF, act, alpha, limit, hidden, rows, kind, e, r0, n, p0, p1, hShared, tiles, h, y, kernelScratch);
  } else if (weightType == WEIGHT_F16) {
    expertItemOf<u16>(gu, guScales, guBias, dn, dnScales, dnBias, dModel, dFF, act, alpha, limit, hidden, rows, kind, e, r0, n, p0, p1, hShared, tiles, h, y, kernelScratch);
  } else {
    expertItemOf<f32>(gu, guScales, guBias, dn, dnScales, dnBias, dModel, dFF, act, alpha, limit, hidden, rows, kind, e, r0, n, p0, p1, hShared, tiles, h, y, kernelScratch);
  }
}

/**
 * @param weightType  WEIGHT_F32 | WEIGHT_F16 | WEIGHT_INT8 (weights.ts)
 * @param guPacked    [nExpert, nPanel, dModelK, 8] gate/up panels (layout.ts), of the weight type
 * @param guScales    [nExpert, nPanel, dModelK / Q8_BLOCK, 8] f16 (int8), else unused
 * @param guBias      [nExpert, nPanel, 8], or 0 for none
 * @param downPacked  [nExpert, dModelPad / 8, dFFPad, 8]
 * @param downScales  [nExpert, dModelPad / 8, dFFPad / Q8_BLOCK, 8] f16 (int8), else unused
 * @param downBias    [nExpert, dModelPad], or 0 for none
 * @param act         ACT_* of activation.ts; alpha, limit: swiglu-oai's
 * @param hidden      [nToken, dModelK], pad columns zero
 * @param offsets     [nExpert + 1]
 * @param rows        [nRow]; weights [nRow]; slots [nRow]
 * @param tiles       [roundUp(max rows of one expert, 4), dModelK] scratch: an expert's row tiles (pack.ts)
 * @param h           [roundUp(max rows of one expert, 4), dFFPad] scratch
 * @param y           [nRow, dModelPad] scratch
 * @param kernelScratch  the projections' own scratch, kernelScratchBytes (ts/backends/wasm-experts.ts) for the
 *                    rows of the largest expert: int8, its rows rounded to i16 (q8.ts); f16, one panel widened
 *                    (weights.ts widenPanel); f32, none
 * @param order       [nSlot] scratch, nSlot = 1 + the largest slot
 * @param out         [nToken, dModel] out
 */
export function runExperts(
  weightType: i32, guPacked: usize, guScales: usize, guBias: usize, downPacked: usize, downScales: usize, downBias: usize,
  nExpert: i32, dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, nToken: i32,
  offsets: usize, rows: usize, weights: usize, slots: usize, nRow: i32,
  tiles: usize, h: usize, y: usize, kernelScratch: usize, order: usize, nSlot: i32, out: usize,
): void {
  for (let e = 0; e < nExpert; e++) {
    const r0 = load<i32>(offsets + (<usize>e << 2));
    const r1 = load<i32>(offsets + ((<usize>e + 1) << 2));
    expertItem(weightType, guPacked, guScales, guBias, downPacked, downScales, downBias, dModel, dFF, act, alpha, limit,
      hidden, rows, ITEM_ROWS, e, r0, r1, 0, 0, 0, tiles, h, y, kernelScratch);
  }
  combine(y, roundUp(dModel, PANEL), rows, weights, slots, nRow, order, nSlot, out, nToken, dModel);
}

/**
 * One work item of the threaded path: plan rows [rowBegin, rowEnd) of expert e, y rows at the same
 * indices; for the column kinds, panels [panelBegin, panelEnd) — of gate/up (ITEM_GATE_UP) or of down
 * (ITEM_DOWN) — and the expert's shared h [roundUp(rowEnd − rowBegin, 4), dFFPad]. Parameters as in
 * runExperts; tiles, h and kernelScratch sized for rowEnd − rowBegin rows, and private to the calling thread.
 * rowBegin − offsets[e] must be a multiple of 4, and so must panelBegin (see expertItemOf).
 */
export function runExpertItem(
  weightType: i32, guPacked: usize, guScales: usize, guBias: usize, downPacked: usize, downScales: usize, downBias: usize,
  dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, rows: usize, kind: i32, expert: i32, rowBegin: i32, rowEnd: i32, panelBegin: i32, panelEnd: i32, hShared: usize,
  tiles: usize, h: usize, y: usize, kernelScratch: usize,
): void {
  if (kind == ITEM_PACK) {
    packItem(<usize><u32>expert, tiles, h);
    return;
  }
  expertItem(weightType, guPacked, guScales, guBias, downPacked, downScales, downBias, dModel, dFF, act, alpha, limit,
    hidden, rows, kind, expert, rowBegin, rowEnd, panelBegin, panelEnd, hShared, tiles, h, y, kernelScratch);
}

/** The combine of runExperts alone, after every work item of runExpertItem has finished. */
export function combineExperts(
  y: usize, dModel: i32, rows: usize, weights: usize, slots: usize, nRow: i32, order: usize, nSlot: i32, out: usize, nToken: i32,
): void {
  combine(y, roundUp(dModel, PANEL), rows, weights, slots, nRow, order, nSlot, out, nToken, dModel);
}
