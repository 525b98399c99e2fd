// Combine: out[t] = Σ_j w · y of token t's rows, summed in slot order j = 0..k−1. Visiting the rows by
// slot (t·k + j) instead of by expert makes the float sum independent of expert order, so the result is
// deterministic and matches a per-token loop. Rows with a slot outside [0, nSlot) (padding rows, −1)
// contribute nothing — they carry weight 0 by contract.
// Not fused into the down projection: a fused store would add each row into out in expert order, which
// changes the sum with the routing and with the threads' order. And there is little to win: alone it
// takes 0.55 ms at E8/k2/d2048 T512 and 0.50 ms at E32/k4/d1024 T512 (simd128, Node 20), against
// 400+ and 160+ ms for the block — under 0.3 % — and under 1 µs at T1 against 0.7 ms.
import { madd } from '../simd';

/**
 * @param y         [nRow, dModelPad] expert outputs per plan row
 * @param rows      [nRow] token of each row
 * @param weights   [nRow] mixing weight of each row
 * @param slots     [nRow] t·k + j of each row
 * @param order     [nSlot] scratch: row of each slot, −1 when none
 * @param out       [nToken, dModel] out
 */
export function combine(
  y: usize, dModelPad: i32, rows: usize, weights: usize, slots: usize, nRow: i32,
  order: usize, nSlot: i32, out: usize, nToken: i32, dModel: i32,
): void {
  const rowBytes = <usize>dModel << 2;
  const yStride = <usize>dModelPad << 2;
  const d4 = dModel & ~3;
  memory.fill(out, 0, <usize>nToken * rowBytes);
  memory.fill(order, 0xff, <usize>nSlot << 2);
  for (let r = 0; r < nRow; r++) {
    const s = load<i32>(slots + (<usize>r << 2));
    if (<u32>s < <u32>nSlot) store<i32>(order + (<usize>s << 2), r);
  }
  for (let s = 0; s < nSlot; s++) {
    const r = load<i32>(order + (<usize>s << 2));
    if (r < 0) continue;
    const t = load<i32>(rows + (<usize>r << 2));
    if (<u32>t >= <u32>nToken) continue;
    const w = load<f32>(weights + (<usize>r << 2));
    const wv = f32x4.splat(w);
    const yr = y + <usize>r * yStride;
    const o = out + <usize>t * rowBytes;
    let i = 0;
    for (; i < d4; i += 4) {
      const off = <usize>i << 2;
      v128.store(o + off, madd(wv, v128.load(yr + off), v128.load(o + off)));
    }
    for (; i < dModel; i++) {
      const off = <usize>i << 2;
      store<f32>(o + off, w * load<f32>(yr + off) + load<f32>(o + off));
    }
  }
}
