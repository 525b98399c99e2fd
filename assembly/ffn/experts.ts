// Experts over a dispatch plan: for each expert e with rows offsets[e] .. offsets[e+1]
//   h = act(gate_e x + gateBias_e, up_e x + upBias_e)   (gate-up.ts; ungated: act(up_e x + upBias_e))
//   y = down_e h + downBias_e                           (down.ts, one y row per plan row)
// then a deterministic per-token combine out[t] = Σ_j w_tj · y (combine.ts). Experts with no rows cost
// nothing. Weights are stored as f32, f16 or block-wise int8 (weights.ts); the reduction lengths are
// padded to 4 (f32, f16) or Q8_BLOCK (int8), and the host pads hidden rows to match.
import { isGated } from './activation';
import { combine } from './combine';
import { down } from './down';
import { gateUp } from './gate-up';
import { GATED_COLS, PANEL, roundUp } from './layout';
import { packTiles } from './pack';
import { isQ8, Q8_BLOCK, WEIGHT_F16, WEIGHT_INT8 } from './weights';

/** The expert loop for one storage type W. Pointers and sizes as in runExperts. */
function expertsOf<W>(
  gu: usize, guScales: usize, guBias: usize, dn: usize, dnScales: usize, dnBias: usize,
  nExpert: i32, dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, offsets: usize, rows: usize, tiles: usize, h: usize, y: usize, q8: usize,
): void {
  const gated = isGated(act);
  const kAlign = isQ8<W>() ? Q8_BLOCK : 4;
  const dModelK = roundUp(dModel, kAlign);
  const dFFPad = roundUp(dFF, max(kAlign, gated ? GATED_COLS : PANEL));
  const dModelPad = roundUp(dModel, PANEL);
  const nPanel = gated ? dFFPad / GATED_COLS : dFFPad / PANEL;
  const guBytes = <usize>nPanel * <usize>dModelK * <usize>(sizeof<W>() << 3);
  const guScaleBytes = (<usize>nPanel * <usize>(dModelK / Q8_BLOCK)) << 5;
  const guBiasBytes = <usize>nPanel << 5;
  const dnBytes = <usize>dModelPad * <usize>dFFPad * <usize>sizeof<W>();
  const dnScaleBytes = (<usize>(dModelPad / PANEL) * <usize>(dFFPad / Q8_BLOCK)) << 5;
  const yStride = <usize>dModelPad << 2;
  for (let e = 0; e < nExpert; e++) {
    const r0 = load<i32>(offsets + (<usize>e << 2));
    const r1 = load<i32>(offsets + ((<usize>e + 1) << 2));
    const n = r1 - r0;
    if (n <= 0) continue;
    const expertRows = rows + (<usize>r0 << 2);
    packTiles(hidden, expertRows, n, dModelK, tiles);
    gateUp<W>(hidden, expertRows, n, dModelK, tiles, gu + <usize>e * guBytes, guScales + <usize>e * guScaleBytes,
      guBias ? guBias + <usize>e * guBiasBytes : 0, dFFPad, h, act, alpha, limit, q8);
    down<W>(h, n, dFFPad, dn + <usize>e * dnBytes, dnScales + <usize>e * dnScaleBytes,
      dnBias ? dnBias + <usize>e * yStride : 0, dModelPad, y + <usize>r0 * yStride, q8);
  }
}

/**
 * @param weightType  WEIGHT_F32 | WEIGHT_F16 | WEIGHT_INT8 (weights.ts)
 * @param guPacked    [nExpert, nPanel, dModelK, 8] gate/up panels (layout.ts), of the weight type
 * @param guScales    [nExpert, nPanel, dModelK / Q8_BLOCK, 8] (int8), else unused
 * @param guBias      [nExpert, nPanel, 8], or 0 for none
 * @param downPacked  [nExpert, dModelPad / 8, dFFPad, 8]
 * @param downScales  [nExpert, dModelPad / 8, dFFPad / Q8_BLOCK, 8] (int8), else unused
 * @param downBias    [nExpert, dModelPad], or 0 for none
 * @param act         ACT_* of activation.ts; alpha, limit: swiglu-oai's
 * @param hidden      [nToken, dModelK], pad columns zero
 * @param offsets     [nExpert + 1]
 * @param rows        [nRow]; weights [nRow]; slots [nRow]
 * @param tiles       [roundUp(max rows of one expert, 4), dModelK] scratch: an expert's row tiles (pack.ts)
 * @param h           [roundUp(max rows of one expert, 4), dFFPad] scratch
 * @param y           [nRow, dModelPad] scratch
 * @param q8          [4 · max(dModelK, dFFPad)] bytes of scratch (int8 only: a decode row rounded to i16)
 * @param order       [nSlot] scratch, nSlot = 1 + the largest slot
 * @param out         [nToken, dModel] out
 */
export function runExperts(
  weightType: i32, guPacked: usize, guScales: usize, guBias: usize, downPacked: usize, downScales: usize, downBias: usize,
  nExpert: i32, dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, nToken: i32,
  offsets: usize, rows: usize, weights: usize, slots: usize, nRow: i32,
  tiles: usize, h: usize, y: usize, q8: usize, order: usize, nSlot: i32, out: usize,
): void {
  if (weightType == WEIGHT_INT8) {
    expertsOf<i8>(guPacked, guScales, guBias, downPacked, downScales, downBias, nExpert, dModel, dFF, act, alpha, limit,
      hidden, offsets, rows, tiles, h, y, q8);
  } else if (weightType == WEIGHT_F16) {
    expertsOf<u16>(guPacked, guScales, guBias, downPacked, downScales, downBias, nExpert, dModel, dFF, act, alpha, limit,
      hidden, offsets, rows, tiles, h, y, q8);
  } else {
    expertsOf<f32>(guPacked, guScales, guBias, downPacked, downScales, downBias, nExpert, dModel, dFF, act, alpha, limit,
      hidden, offsets, rows, tiles, h, y, q8);
  }
  combine(y, roundUp(dModel, PANEL), rows, weights, slots, nRow, order, nSlot, out, nToken, dModel);
}
