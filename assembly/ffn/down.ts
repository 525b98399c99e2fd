// Down projection of one expert: y[r, m] = down[m] · h_r + downBias[m], over pre-packed panels
// (layout.ts). y rows have stride dModelPad = roundUp(dModel, 8), so every store is a full panel width.
import { ACT_IDENTITY } from './activation';
import { PANEL } from './layout';
import { tile1x8, tile4x8 } from './tile';

/**
 * y = down · h (+ bias) for the rows of one expert. Also the bare GEMM of bench/wasm/gemm.ts.
 * @param h      [nRow, dFFPad], dFFPad % 4 == 0
 * @param packed down panels of this expert, [dModelPad / 8, dFFPad, 8]
 * @param y      [nRow, dModelPad] out
 * @param bias   [dModelPad], or 0
 */
export function down(h: usize, nRow: i32, dFFPad: i32, packed: usize, dModelPad: i32, y: usize, bias: usize = 0): void {
  const hStride = <usize>dFFPad << 2;
  const yStride = <usize>dModelPad << 2;
  const panelBytes = hStride << 3;
  const nPanel = dModelPad / PANEL;
  for (let q = 0; q < nPanel; q++) {
    const panel = packed + <usize>q * panelBytes;
    const pb = bias ? bias + (<usize>q << 5) : 0;
    const yCol = y + (<usize>(q * PANEL) << 2);
    let r = 0;
    for (; r + 4 <= nRow; r += 4) {
      const a = h + <usize>r * hStride;
      const yr = yCol + <usize>r * yStride;
      tile4x8(a, a + hStride, a + 2 * hStride, a + 3 * hStride, panel, dFFPad, pb,
        yr, yr + yStride, yr + 2 * yStride, yr + 3 * yStride, ACT_IDENTITY, 0, 0);
    }
    for (; r < nRow; r++) tile1x8(h + <usize>r * hStride, panel, dFFPad, pb, yCol + <usize>r * yStride, ACT_IDENTITY, 0, 0);
  }
}
