// Fused gate/up projection + SwiGLU activation of one expert:
//   h[r, c] = silu(gate[c] · x_r) · (up[c] · x_r)
// over a pre-packed panel (see layout.ts). Two micro-kernels:
//   f32-gateup-4x8: 4 rows × (4 gate + 4 up) columns, 8 f32x4 accumulators, one splat per row per step;
//   f32-gateup-1x8: the 1-row tail (and T = 1 decode), reduction unrolled by 2 so two accumulator chains
//   hide the add latency.
// x rows are read in place through the plan's token list: no gather copy.
import { madd } from '../simd';
import { GU_COLS } from './layout';

/** silu(g) · u per lane. The activation is O(rows · dFF), dModel times cheaper than the GEMM: scalar exp is fine. */
// @ts-ignore: decorator
@inline function swiglu(g: v128, u: v128): v128 {
  const g0 = f32x4.extract_lane(g, 0);
  const g1 = f32x4.extract_lane(g, 1);
  const g2 = f32x4.extract_lane(g, 2);
  const g3 = f32x4.extract_lane(g, 3);
  let s = f32x4.splat(g0 / (1 + Mathf.exp(-g0)));
  s = f32x4.replace_lane(s, 1, g1 / (1 + Mathf.exp(-g1)));
  s = f32x4.replace_lane(s, 2, g2 / (1 + Mathf.exp(-g2)));
  s = f32x4.replace_lane(s, 3, g3 / (1 + Mathf.exp(-g3)));
  return f32x4.mul(s, u);
}

/** 4 rows × one panel. a*: x rows [dModel]; panel: [dModel][8]; h*: 4 outputs each. */
function gateUp4x8(
  a0: usize, a1: usize, a2: usize, a3: usize, panel: usize, dModel: i32,
  h0: usize, h1: usize, h2: usize, h3: usize,
): void {
  let g0 = f32x4.splat(0), u0 = f32x4.splat(0);
  let g1 = f32x4.splat(0), u1 = f32x4.splat(0);
  let g2 = f32x4.splat(0), u2 = f32x4.splat(0);
  let g3 = f32x4.splat(0), u3 = f32x4.splat(0);
  let p = panel;
  const end = a0 + (<usize>dModel << 2);
  while (a0 < end) {
    const bg = v128.load(p);
    const bu = v128.load(p, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    const x3 = v128.load32_splat(a3);
    g0 = madd(x0, bg, g0); u0 = madd(x0, bu, u0);
    g1 = madd(x1, bg, g1); u1 = madd(x1, bu, u1);
    g2 = madd(x2, bg, g2); u2 = madd(x2, bu, u2);
    g3 = madd(x3, bg, g3); u3 = madd(x3, bu, u3);
    a0 += 4; a1 += 4; a2 += 4; a3 += 4;
    p += 32;
  }
  v128.store(h0, swiglu(g0, u0));
  v128.store(h1, swiglu(g1, u1));
  v128.store(h2, swiglu(g2, u2));
  v128.store(h3, swiglu(g3, u3));
}

/** 1 row × one panel. */
function gateUp1x8(a: usize, panel: usize, dModel: i32, h: usize): void {
  let g0 = f32x4.splat(0), u0 = f32x4.splat(0);
  let g1 = f32x4.splat(0), u1 = f32x4.splat(0);
  let p = panel;
  let i = 0;
  for (; i + 2 <= dModel; i += 2) {
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a, 4);
    g0 = madd(x0, v128.load(p), g0);
    u0 = madd(x0, v128.load(p, 16), u0);
    g1 = madd(x1, v128.load(p, 32), g1);
    u1 = madd(x1, v128.load(p, 48), u1);
    a += 8;
    p += 64;
  }
  if (i < dModel) {
    const x0 = v128.load32_splat(a);
    g0 = madd(x0, v128.load(p), g0);
    u0 = madd(x0, v128.load(p, 16), u0);
  }
  v128.store(h, swiglu(f32x4.add(g0, g1), f32x4.add(u0, u1)));
}

/**
 * h = swiglu(gate/up · x) for the rows of one expert.
 * @param hidden [nToken, dModel]
 * @param rows   [nRow] token of each row
 * @param packed gate/up panels of this expert, [nPanel, dModel, 8]
 * @param h      [nRow, dFFPad] out
 */
export function gateUp(
  hidden: usize, rows: usize, nRow: i32, dModel: i32, packed: usize, dFFPad: i32, h: usize,
): void {
  const rowBytes = <usize>dModel << 2;
  const hStride = <usize>dFFPad << 2;
  const panelBytes = rowBytes << 3;
  const nPanel = dFFPad / GU_COLS;
  for (let p = 0; p < nPanel; p++) {
    const panel = packed + <usize>p * panelBytes;
    const hCol = h + (<usize>(p * GU_COLS) << 2);
    let r = 0;
    for (; r + 4 <= nRow; r += 4) {
      const rp = rows + (<usize>r << 2);
      const hr = hCol + <usize>r * hStride;
      gateUp4x8(
        hidden + <usize>load<i32>(rp) * rowBytes,
        hidden + <usize>load<i32>(rp, 4) * rowBytes,
        hidden + <usize>load<i32>(rp, 8) * rowBytes,
        hidden + <usize>load<i32>(rp, 12) * rowBytes,
        panel, dModel,
        hr, hr + hStride, hr + 2 * hStride, hr + 3 * hStride,
      );
    }
    for (; r < nRow; r++) {
      gateUp1x8(hidden + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes, panel, dModel, hCol + <usize>r * hStride);
    }
  }
}
