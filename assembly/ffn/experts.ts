// Experts over a dispatch plan: for each expert e with rows offsets[e] .. offsets[e+1]
//   h = act(gate_e x + gateBias_e, up_e x + upBias_e)   (gate-up.ts; ungated: act(up_e x + upBias_e))
//   y = down_e h + downBias_e                           (down.ts, one y row per plan row)
// then a deterministic per-token combine out[t] = Σ_j w_tj · y (combine.ts). Experts with no rows cost nothing.
import { isGated } from './activation';
import { combine } from './combine';
import { down } from './down';
import { gateUp } from './gate-up';
import { GATED_COLS, PANEL, roundUp } from './layout';
import { packTiles } from './pack';

/**
 * @param guPacked   [nExpert, nPanel, dModelK, 8] gate/up panels (layout.ts)
 * @param guBias     [nExpert, nPanel, 8], or 0 for none
 * @param downPacked [nExpert, dModelPad / 8, dFFPad, 8]
 * @param downBias   [nExpert, dModelPad], or 0 for none
 * @param act        ACT_* of activation.ts; alpha, limit: swiglu-oai's
 * @param hidden     [nToken, dModelK], pad columns zero
 * @param offsets    [nExpert + 1]
 * @param rows       [nRow]; weights [nRow]; slots [nRow]
 * @param tiles      [max rows of one expert, dModelK] scratch: the expert's row tiles (pack.ts)
 * @param h          [max rows of one expert, dFFPad] scratch
 * @param y          [nRow, dModelPad] scratch
 * @param order      [nSlot] scratch, nSlot = 1 + the largest slot
 * @param out        [nToken, dModel] out
 */
export function runExperts(
  guPacked: usize, guBias: usize, downPacked: usize, downBias: usize,
  nExpert: i32, dModel: i32, dFF: i32, act: i32, alpha: f32, limit: f32,
  hidden: usize, nToken: i32,
  offsets: usize, rows: usize, weights: usize, slots: usize, nRow: i32,
  tiles: usize, h: usize, y: usize, order: usize, nSlot: i32, out: usize,
): void {
  const gated = isGated(act);
  const dModelK = roundUp(dModel, 4);
  const dFFPad = roundUp(dFF, gated ? GATED_COLS : PANEL);
  const dModelPad = roundUp(dModel, PANEL);
  const nPanel = gated ? dFFPad / GATED_COLS : dFFPad / PANEL;
  const guBytes = (<usize>nPanel * <usize>dModelK) << 5;
  const guBiasBytes = <usize>nPanel << 5;
  const downBytes = (<usize>dModelPad * <usize>dFFPad) << 2;
  const yStride = <usize>dModelPad << 2;
  for (let e = 0; e < nExpert; e++) {
    const r0 = load<i32>(offsets + (<usize>e << 2));
    const r1 = load<i32>(offsets + ((<usize>e + 1) << 2));
    const n = r1 - r0;
    if (n <= 0) continue;
    const expertRows = rows + (<usize>r0 << 2);
    packTiles(hidden, expertRows, n, dModelK, tiles);
    gateUp(hidden, expertRows, n, dModelK, tiles, guPacked + <usize>e * guBytes,
      guBias ? guBias + <usize>e * guBiasBytes : 0, dFFPad, h, act, alpha, limit);
    down(h, n, dFFPad, downPacked + <usize>e * downBytes, downBias ? downBias + <usize>e * yStride : 0,
      dModelPad, y + <usize>r0 * yStride);
  }
  combine(y, dModelPad, rows, weights, slots, nRow, order, nSlot, out, nToken, dModel);
}
