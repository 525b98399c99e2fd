// Packed expert layout, shared by the kernels and (mirrored) by the host packer in ts/backends/wasm-experts.ts.
// Every projection is packed into panels of [K][8] floats — 8 output columns interleaved per input index —
// so a micro-kernel (tile.ts) reads 8 contiguous floats per step of the reduction and a whole expert
// streams front to back.
//
// gate/up, per expert, K = dModelK = roundUp(dModel, 4) (pad inputs are zero, and so are the padded
// hidden rows the host writes):
//   gated activations:   dFFPad / 4 panels; panel p holds gate[4p .. 4p+3][i] then up[4p .. 4p+3][i],
//                        dFFPad = roundUp(dFF, 4), 4 h columns per panel;
//   ungated activations: dFFPad / 8 panels; panel p holds up[8p .. 8p+7][i], dFFPad = roundUp(dFF, 8).
//   Bias, per expert: [nPanel][8] in the same column order (zero when the model has none).
// down, per expert: dModelPad / 8 panels of [dFFPad][8], dModelPad = roundUp(dModel, 8). Panel q holds
//   down[8q .. 8q+7][i] for i < dFFPad (zero where the row is ≥ dModel or i ≥ dFF). Bias [dModelPad].
//
// The activation scratch h is [rows, dFFPad]; its pad columns come out as act(0, 0) = 0 for every
// activation, and the down panels are zero there anyway, so the down kernel runs its reduction over
// dFFPad (a multiple of 4) without a tail.
//
// Panels hold f32, f16 or int8 (weights.ts). f16 interleaves each whole group of four panels step by step,
// [K][4][8] (weights.ts panelAt / panelStep say where panel p and its next step are). For int8 both reduction lengths are padded to Q8_BLOCK = 32
// instead of 4 (dModelK and dFFPad), the panels are pair-interleaved [K / 2][8][2] and carry scales
// [K / 32][8] f32 beside them (q8.ts).

/** Output columns of every panel. */
export const PANEL: i32 = 8;
/** h columns of one gated panel (4 gate + 4 up sums). */
export const GATED_COLS: i32 = 4;

// @ts-ignore: decorator
@inline export function roundUp(n: i32, m: i32): i32 {
  return (n + m - 1) / m * m;
}

/**
 * Bytes of packed row tiles one pass over the panels works on (row blocking): the block is re-read once
 * per panel, so it must stay in L2 (≥ 1 MiB on current cores) beside the panel; larger experts take
 * several passes, each streaming the weights once more.
 */
export const ROW_BLOCK_BYTES: i32 = 512 * 1024;

/**
 * Row tiles of tileBytes each in one row block (ROW_BLOCK_BYTES). With 6-row groups (tile.ts
 * SIX_ROW_GROUPS) a multiple of 3, as three tiles make two groups, so only the last block has a remainder.
 */
export function rowBlockTiles(tileBytes: i32, sixRowGroups: bool): i32 {
  const n = max(1, ROW_BLOCK_BYTES / tileBytes);
  return sixRowGroups && n >= 3 ? n - n % 3 : n;
}
