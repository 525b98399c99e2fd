// Packed expert layout, shared by the kernels and (mirrored) by the host packer in ts/backends/wasm.ts.
//
// gate/up, per expert: ceil(dFF / 4) panels of [dModel][8] floats. Panel p holds, for each input index i,
//   gate[4p .. 4p+3][i] then up[4p .. 4p+3][i]  (zero where the row is ≥ dFF)
// so the fused gate/up kernel reads 8 contiguous floats per step of the reduction.
//
// down, per expert: ceil(dModel / 8) panels of [dFFPad][8] floats, dFFPad = roundUp(dFF, 4). Panel q holds
//   down[8q .. 8q+7][i] for i < dFFPad (zero where the row is ≥ dModel or i ≥ dFF).
//
// The activation scratch h is [rows, dFFPad]; its pad columns come out as silu(0)·0 = 0, so the down
// kernel can run its reduction over dFFPad (a multiple of 4) without a tail.

/** Output columns of one gate/up panel (and of h written per panel). */
export const GU_COLS: i32 = 4;
/** Output columns of one down panel. */
export const DOWN_COLS: i32 = 8;

// @ts-ignore: decorator
@inline export function roundUp(n: i32, m: i32): i32 {
  return (n + m - 1) / m * m;
}
