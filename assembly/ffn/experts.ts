// SwiGLU experts over a dispatch plan: for each expert e with rows offsets[e] .. offsets[e+1]
//   h = silu(gate_e x) ⊙ (up_e x)   (gate-up.ts)
//   y = down_e h                     (down.ts, one y row per plan row)
// then a deterministic per-token combine (combine.ts). Experts with no rows cost nothing.
import { gateUp } from './gate-up';
import { down } from './down';
import { combine } from './combine';
import { GU_COLS, DOWN_COLS, roundUp } from './layout';

/**
 * @param gateUpPacked [nExpert, dFFPad / 4, dModel, 8]
 * @param downPacked   [nExpert, dModelPad / 8, dFFPad, 8]
 * @param hidden       [nToken, dModel]
 * @param offsets      [nExpert + 1]
 * @param rows         [nRow]; weights [nRow]; slots [nRow]
 * @param h            [max rows of one expert, dFFPad] scratch
 * @param y            [nRow, dModelPad] scratch
 * @param order        [nSlot] scratch, nSlot = 1 + the largest slot
 * @param out          [nToken, dModel] out
 */
export function runExperts(
  gateUpPacked: usize, downPacked: usize, nExpert: i32, dModel: i32, dFF: i32,
  hidden: usize, nToken: i32,
  offsets: usize, rows: usize, weights: usize, slots: usize, nRow: i32,
  h: usize, y: usize, order: usize, nSlot: i32, out: usize,
): void {
  const dFFPad = roundUp(dFF, GU_COLS);
  const dModelPad = roundUp(dModel, DOWN_COLS);
  const guBytes = (<usize>dFFPad * <usize>dModel) << 3;
  const downBytes = (<usize>dModelPad * <usize>dFFPad) << 2;
  const yStride = <usize>dModelPad << 2;
  for (let e = 0; e < nExpert; e++) {
    const r0 = load<i32>(offsets + (<usize>e << 2));
    const r1 = load<i32>(offsets + ((<usize>e + 1) << 2));
    const n = r1 - r0;
    if (n <= 0) continue;
    gateUp(hidden, rows + (<usize>r0 << 2), n, dModel, gateUpPacked + <usize>e * guBytes, dFFPad, h);
    down(h, n, dFFPad, downPacked + <usize>e * downBytes, dModelPad, y + <usize>r0 * yStride);
  }
  combine(y, dModelPad, rows, weights, slots, nRow, order, nSlot, out, nToken, dModel);
}
