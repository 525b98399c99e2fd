// Gate/up projection of one expert, fused with its activation:
//   gated:   h[r, 4p .. 4p+3] = act(gate · x_r + gateBias, up · x_r + upBias) for panel p
//   ungated: h[r, 8p .. 8p+7] = act(up · x_r + upBias)
// x rows are read in place through the plan's token list: no gather copy.
import { isGated } from './activation';
import { GATED_COLS, PANEL } from './layout';
import { tile1x8, tile4x8 } from './tile';

/**
 * @param hidden [nToken, dModelK] (pad columns zero)
 * @param rows   [nRow] token of each row
 * @param packed this expert's panels, [nPanel, dModelK, 8]
 * @param bias   this expert's panel biases [nPanel, 8], or 0
 * @param h      [nRow, dFFPad] out
 */
export function gateUp(
  hidden: usize, rows: usize, nRow: i32, dModelK: i32, packed: usize, bias: usize, dFFPad: i32, h: usize,
  act: i32, alpha: f32, limit: f32,
): void {
  const rowBytes = <usize>dModelK << 2;
  const hStride = <usize>dFFPad << 2;
  const panelBytes = rowBytes << 3;
  const cols = isGated(act) ? GATED_COLS : PANEL;
  const nPanel = dFFPad / cols;
  for (let p = 0; p < nPanel; p++) {
    const panel = packed + <usize>p * panelBytes;
    const pb = bias ? bias + (<usize>p << 5) : 0;
    const hCol = h + (<usize>(p * cols) << 2);
    let r = 0;
    for (; r + 4 <= nRow; r += 4) {
      const rp = rows + (<usize>r << 2);
      const hr = hCol + <usize>r * hStride;
      tile4x8(
        hidden + <usize>load<i32>(rp) * rowBytes,
        hidden + <usize>load<i32>(rp, 4) * rowBytes,
        hidden + <usize>load<i32>(rp, 8) * rowBytes,
        hidden + <usize>load<i32>(rp, 12) * rowBytes,
        panel, dModelK, pb,
        hr, hr + hStride, hr + 2 * hStride, hr + 3 * hStride, act, alpha, limit,
      );
    }
    for (; r < nRow; r++) {
      const x = hidden + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes;
      tile1x8(x, panel, dModelK, pb, hCol + <usize>r * hStride, act, alpha, limit);
    }
  }
}
