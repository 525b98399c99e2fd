// The f32-activation micro-kernels of every expert projection: rows of A times pre-packed weight panels
// [K][8] (layout.ts) of storage type W — f32, or f16 widened in registers (weights.ts) — started from a
// bias. They leave their 8 accumulators in ACC; the caller's epilogue (activation and transposed store
// in gate-up.ts, plain store in down.ts) reads them back. Eight v128 stores and loads per call are
// nothing beside the K-long loop, and the loop is written once for both projections and both types.
// (int8 weights take the integer kernels of q8.ts; a single row, those of row1.ts, with the helpers here.)
//   tile4x8<W>: a packed 4-row tile [K][4] (pack.ts) × one panel: 8 accumulators, 4 load-splats at fixed
//               offsets and one panel step (weights.ts panelStep) per step of K. ACC = rows 0..3 ×
//               (cols 0..3, 4..7). f16 splits each step's halves as row1x32 does (row1.ts).
//   tile3x8:    tile4x8 without row 3 (padding): a last tile of three rows (f32: tile3x8F32). ACC row 3 =
//               the bias.
//   tile2x8F32: tile4x8 of f32 without rows 2..3: a last tile of two rows where the pair kernels cannot take it.
//   pair2x16:   rows 0..1 of a tile × two panels of an interleaved f16 group, without tile4x8's two padding
//               rows: an expert of two rows. ACC (from an offset) = panel 0 rows 0..1 × (cols 0..3, 4..7),
//               then panel 1. (f32 tiles of two to four rows over a whole group at once: group-tile.ts.)
//   tile6x8Even/Odd: relaxed build only (SIX_ROW_GROUPS), f32 panels: six rows from two consecutive tiles
//               × one panel, 12 accumulators. Three tiles make two groups: Even = rows 0..3 of the first
//               tile and 0..1 of the next, Odd = rows 2..3 of that one and 0..3 of the one after. ACC = rows
//               0..5 × (cols 0..3, 4..7). Each sum is the same chain of madds as in tile4x8 (bit-identical).
// fold (f16 only): the activations were multiplied by F16_SCALE beforehand (weights.ts foldScale), so the
// weights are widened without their multiply — the same products, bit for bit, for less work per weight.
import { madd } from '../simd';
import { halfBitsHi, halfBitsLo, highHalfBits, highHalfFloats, highHalfMask, weightsHi, weightsLo } from './weights';

/**
 * The accumulators of the last kernel call, up to 12 × v128 (tile6x8; the others leave 8), and from ACC +
 * 256 the 512 bytes of an int8 tile × group's sums (q8.ts acc4). A global, not a constant: in the
 * shared-memory builds every thread instantiates this module over the same memory, and each must keep its
 * accumulators apart (useAccumulators), or one thread's epilogue would read another's sums. Globals are per
 * instance. The host allocates the same size for each thread (ts/backends/wasm-pool.ts ACCUMULATOR_BYTES).
 */
export let ACC: usize = memory.data(768, 16);

/**
 * Whether row tiles of f32 panels run as 6-row groups (tile6x8) rather than one tile at a time: in the
 * relaxed build, where a madd is one instruction, 12 accumulators + 2 weight vectors + 1 splat fit the 15
 * vector registers V8 allocates on x64, and each weight load serves 6 rows instead of 4 (measured, K 2048
 * × N 1408, M 512: 53 against tile4x8's 49 GFLOP/s). A mul + add needs a 16th register for the product:
 * the same kernel there spilled and ran at 27.
 */
export const SIX_ROW_GROUPS: bool = ASC_FEATURE_RELAXED_SIMD;

/** Moves this instance's accumulators to [768] bytes at ptr (16-aligned), e.g. a worker's own scratch. */
export function useAccumulators(ptr: usize): void {
  ACC = ptr;
}

/** The 8 accumulators of a kernel into ACC (from byte `at` of it), in order. */
// @ts-ignore: decorator
@inline export function storeAccumulators(a0: v128, a1: v128, a2: v128, a3: v128, a4: v128, a5: v128, a6: v128, a7: v128, at: usize = 0): void {
  const acc = ACC + at;
  v128.store(acc, a0); v128.store(acc, a1, 16);
  v128.store(acc, a2, 32); v128.store(acc, a3, 48);
  v128.store(acc, a4, 64); v128.store(acc, a5, 80);
  v128.store(acc, a6, 96); v128.store(acc, a7, 112);
}

// @ts-ignore: decorator
@inline export function biasLo(bias: usize, at: usize): v128 {
  return bias ? v128.load(bias + at) : f32x4.splat(0);
}

// Each kernel is written once, generic over F = Folded or Unfolded, and exported as two functions (the
// folded one named so) that the callers choose between. Not one function with a fold argument: Binaryen
// merged two inlined copies into one loop selecting between them at every step, and with both loops in
// one function V8 kept the f16 mask in a register throughout and spilled an accumulator instead (a
// store and reload every step: f16 blocks at T = 64 ran 20-30 % slower).
export type Folded = i32;
export type Unfolded = f32;
// The rows a tile kernel multiplies, chosen the same way: all four, rows 0..2 (row 3 padding), or rows 0..1
// (here the f32 kernel only; q8.ts has all three). The padding rows' ACC then hold the bias, or zeros.
export type FourRows = i32;
export type ThreeRows = f32;
export type TwoRows = f64;

/** Columns 0..3 of one step of K at p: widened, or for Folded f16 weights their bits as they are. */
// @ts-ignore: decorator
@inline export function wLo<W, F>(p: usize): v128 {
  return isInteger<F>() ? halfBitsLo(p) : weightsLo<W>(p);
}

/** Columns 4..7, as wLo. */
// @ts-ignore: decorator
@inline export function wHi<W, F>(p: usize): v128 {
  return isInteger<F>() ? halfBitsHi(p) : weightsHi<W>(p);
}

// @ts-ignore: decorator
@inline function tile4x8Of<W, F, R>(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  const b0 = biasLo(bias, 0);
  const b1 = biasLo(bias, 16);
  let c00 = b0, c01 = b1;
  let c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1;
  let c30 = b0, c31 = b1;
  let a = tile;
  let p = panel;
  const end = tile + (<usize>K << 4);
  // Two steps of K per pass (K % 4 == 0), as row1x32Of (row1.ts): half the counting, and the second step's loads at
  // constant offsets. One step per pass ran ~33 x64 instructions per step in V8 (a stack check, three
  // address adds, two zero-extensions) against the 16 arithmetic ones: the gate/up and down items ran
  // 15-19 % slower than the same loop where V8 had unrolled it itself (inlined into the bare GEMM).
  while (a < end) {
    let w0 = wLo<W, F>(p);
    let w1 = wHi<W, F>(p);
    let x0 = v128.load32_splat(a);
    let x1 = v128.load32_splat(a, 4);
    c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
    c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
    if (sizeof<R>() == 4) {
      const x2 = v128.load32_splat(a, 8);
      c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
    }
    if (isInteger<R>()) {
      const x3 = v128.load32_splat(a, 12);
      c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
    }
    w0 = wLo<W, F>(p + step);
    w1 = wHi<W, F>(p + step);
    x0 = v128.load32_splat(a, 16);
    x1 = v128.load32_splat(a, 20);
    c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
    c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
    if (sizeof<R>() == 4) {
      const x2 = v128.load32_splat(a, 24);
      c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
    }
    if (isInteger<R>()) {
      const x3 = v128.load32_splat(a, 28);
      c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
    }
    a += 32;
    p += step << 1;
  }
  storeAccumulators(c00, c01, c10, c11, c20, c21, c30, c31);
}

// The rows a 6-row group reads: Even = rows 0..3 of tile A, 0..1 of tile B; Odd = rows 2..3 of A, 0..3 of B.
type EvenGroup = i32;
type OddGroup = f32;

// tile6x8 of f32 panels (step 32 bytes): tile B is the tile right after A (K · 16 bytes on). One step of K
// per pass: 12 madds against the loop's few counting instructions; unrolled to two steps, V8 scheduled the
// second step's loads early and spilled (measured 37 against 53 GFLOP/s).
// @ts-ignore: decorator
@inline function tile6x8Of<G>(tileA: usize, panel: usize, K: i32, bias: usize): void {
  const b0 = biasLo(bias, 0);
  const b1 = biasLo(bias, 16);
  let c00 = b0, c01 = b1;
  let c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1;
  let c30 = b0, c31 = b1;
  let c40 = b0, c41 = b1;
  let c50 = b0, c51 = b1;
  const tileBytes = <usize>K << 4;
  let a = tileA;
  let b = tileA + tileBytes;
  let p = panel;
  const end = tileA + tileBytes;
  while (a < end) {
    const w0 = v128.load(p);
    const w1 = v128.load(p, 16);
    let x: v128;
    if (isInteger<G>()) {
      x = v128.load32_splat(a); c00 = madd(x, w0, c00); c01 = madd(x, w1, c01);
      x = v128.load32_splat(a, 4); c10 = madd(x, w0, c10); c11 = madd(x, w1, c11);
      x = v128.load32_splat(a, 8); c20 = madd(x, w0, c20); c21 = madd(x, w1, c21);
      x = v128.load32_splat(a, 12); c30 = madd(x, w0, c30); c31 = madd(x, w1, c31);
      x = v128.load32_splat(b); c40 = madd(x, w0, c40); c41 = madd(x, w1, c41);
      x = v128.load32_splat(b, 4); c50 = madd(x, w0, c50); c51 = madd(x, w1, c51);
    } else {
      x = v128.load32_splat(a, 8); c00 = madd(x, w0, c00); c01 = madd(x, w1, c01);
      x = v128.load32_splat(a, 12); c10 = madd(x, w0, c10); c11 = madd(x, w1, c11);
      x = v128.load32_splat(b); c20 = madd(x, w0, c20); c21 = madd(x, w1, c21);
      x = v128.load32_splat(b, 4); c30 = madd(x, w0, c30); c31 = madd(x, w1, c31);
      x = v128.load32_splat(b, 8); c40 = madd(x, w0, c40); c41 = madd(x, w1, c41);
      x = v128.load32_splat(b, 12); c50 = madd(x, w0, c50); c51 = madd(x, w1, c51);
    }
    a += 16;
    b += 16;
    p += 32;
  }
  storeAccumulators(c00, c01, c10, c11, c20, c21, c30, c31);
  v128.store(ACC, c40, 128); v128.store(ACC, c41, 144);
  v128.store(ACC, c50, 160); v128.store(ACC, c51, 176);
}

/**
 * Rows 0..3 of tileA and 0..1 of the tile after it × one f32 panel (SIX_ROW_GROUPS builds).
 * @param tileA  [K][4] packed rows, followed by the next tile
 * @param panel  [K][8] f32
 * @param bias   [8], or 0
 */
export function tile6x8Even(tileA: usize, panel: usize, K: i32, bias: usize): void {
  tile6x8Of<EvenGroup>(tileA, panel, K, bias);
}

/** Rows 2..3 of tileA and 0..3 of the tile after it, as tile6x8Even. */
export function tile6x8Odd(tileA: usize, panel: usize, K: i32, bias: usize): void {
  tile6x8Of<OddGroup>(tileA, panel, K, bias);
}

// tile4x8 of f16: each step's halves split as row1x32HalfOf does (two loads 2 bytes apart, highHalfBits),
// into accumulators of even and odd columns, put back in column order at the end. With R = ThreeRows
// (tile3x8: an expert of three rows), row 3 is padding and left out of the multiplies: its accumulators
// keep the bias, what the zero row sums to, so ACC is the same bit for bit, for a quarter fewer multiplies.
// @ts-ignore: decorator
@inline function tile4x8HalfOf<F, R>(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  const b0 = biasEven(bias, 0);
  const b1 = biasOdd(bias, 0);
  let c00 = b0, c01 = b1;
  let c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1;
  let c30 = b0, c31 = b1;
  let a = tile;
  let q = panel - 2;
  const m = highHalfMask();
  const end = tile + (<usize>K << 4);
  while (a < end) {
    const w0 = wHigh<F>(v128.load(q), m);
    const w1 = wHigh<F>(v128.load(q, 2), m);
    const x0 = v128.load32_splat(a);
    const x1 = v128.load32_splat(a, 4);
    const x2 = v128.load32_splat(a, 8);
    const x3 = isInteger<R>() ? v128.load32_splat(a, 12) : f32x4.splat(0);
    c00 = madd(x0, w0, c00); c01 = madd(x0, w1, c01);
    c10 = madd(x1, w0, c10); c11 = madd(x1, w1, c11);
    c20 = madd(x2, w0, c20); c21 = madd(x2, w1, c21);
    if (isInteger<R>()) {
      c30 = madd(x3, w0, c30); c31 = madd(x3, w1, c31);
    }
    a += 16;
    q += step;
  }
  storeAccumulators(c00, c01, c10, c11, c20, c21, c30, c31);
  unzipAccumulators();
}

/** tile4x8 of f16 panels for a tile whose row 3 is padding (its ACC row: the bias). */
export function tile3x8(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  tile4x8HalfOf<Unfolded, ThreeRows>(tile, panel, K, bias, step);
}

/**
 * tile3x8 of f32 panels (as stored, step 32): the f32 tile kernel without row 3 — a quarter fewer
 * instructions per weight, as group-tile.ts pair2x32F32 has half. Measured here, one process, alternating
 * builds: one expert of three rows d1024 f512 0.33 → 0.27 ms; E32/k4/d1024 at T24 (three rows per expert)
 * 15.2–18.8 → 12.7–13.1 ms; E8/k2/d2048 at T12 21.8–24.8 → 18.5–19.4 ms.
 */
export function tile3x8F32(tile: usize, panel: usize, K: i32, bias: usize): void {
  tile4x8Of<f32, Unfolded, ThreeRows>(tile, panel, K, bias, 32);
}

/**
 * Rows 0..1 of a tile × an f32 panel (step 32): the last tile of an expert with 4n + 2 rows where pairs of
 * panels are not at hand — f16 panels widened one at a time, f32 panels after the last group of four.
 * Measured here (one process, alternating builds), f16: 6 rows d1024 f512 0.92–1.04 → 0.77–0.81 ms;
 * E32/k4/d1024 at T48 (six rows per expert) 31.5–35.4 → 27.3–28.3 ms.
 */
export function tile2x8F32(tile: usize, panel: usize, K: i32, bias: usize): void {
  tile4x8Of<f32, Unfolded, TwoRows>(tile, panel, K, bias, 32);
}

/** tile3x8 on a tile scaled by foldScale. */
export function tile3x8Folded(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  tile4x8HalfOf<Folded, ThreeRows>(tile, panel, K, bias, step);
}

/**
 * @param tile   [K][4] packed rows
 * @param panel  K steps of 8 W, step bytes apart (weights.ts panelAt, panelStep)
 * @param bias   [8], or 0
 */
export function tile4x8<W>(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  if (sizeof<W>() == 2) tile4x8HalfOf<Unfolded, FourRows>(tile, panel, K, bias, step);
  else tile4x8Of<W, Unfolded, FourRows>(tile, panel, K, bias, step);
}

/** tile4x8 of f16 panels on a tile scaled by foldScale. */
export function tile4x8Folded(tile: usize, panel: usize, K: i32, bias: usize, step: usize): void {
  tile4x8HalfOf<Folded, FourRows>(tile, panel, K, bias, step);
}

// pair2x16 of f16: rows 0 and 1 of a packed tile (pack.ts) × two consecutive panels of an interleaved group
// (weights.ts), each step's halves split as row1x32HalfOf does. For an expert of two rows, which tile4x8
// would run as a tile of four, two of them padding: the same 8 accumulators here hold only real sums, for
// half the multiplies per weight. Each column sums k in order from its bias, as in tile4x8 (the same
// products: bit-identical). ACC from byte `at` = rows 0..1 × (cols 0..3, 4..7) of the first panel, then of
// the second.
// @ts-ignore: decorator
@inline function pair2x16HalfOf<F>(tile: usize, panel: usize, K: i32, bias: usize, at: usize): void {
  let a0 = biasEven(bias, 0), a1 = biasOdd(bias, 0);
  let b0 = a0, b1 = a1;
  let c0 = biasEven(bias, 32), c1 = biasOdd(bias, 32);
  let d0 = c0, d1 = c1;
  let t = tile;
  let q = panel - 2;
  const m = highHalfMask();
  const end = tile + (<usize>K << 4);
  while (t < end) {
    const x0 = v128.load32_splat(t);
    const x1 = v128.load32_splat(t, 4);
    let w0 = wHigh<F>(v128.load(q), m);
    let w1 = wHigh<F>(v128.load(q, 2), m);
    a0 = madd(x0, w0, a0); a1 = madd(x0, w1, a1);
    b0 = madd(x1, w0, b0); b1 = madd(x1, w1, b1);
    w0 = wHigh<F>(v128.load(q, 16), m);
    w1 = wHigh<F>(v128.load(q, 18), m);
    c0 = madd(x0, w0, c0); c1 = madd(x0, w1, c1);
    d0 = madd(x1, w0, d0); d1 = madd(x1, w1, d1);
    t += 16;
    q += 64;
  }
  storeAccumulators(a0, a1, b0, b1, c0, c1, d0, d1, at);
  unzipAccumulators(at);
}

/**
 * @param tile   [K][4] packed rows (rows 2 and 3 unread)
 * @param panel  the first of two panels p, p + 1 of one interleaved f16 group (weights.ts panelAt), p even
 * @param bias   [2][8], or 0
 * @param at     where in ACC the sums go: 0, or 128 for the group's second pair
 */
export function pair2x16(tile: usize, panel: usize, K: i32, bias: usize, at: usize): void {
  pair2x16HalfOf<Unfolded>(tile, panel, K, bias, at);
}

/** pair2x16 on a tile scaled by foldScale. */
export function pair2x16Folded(tile: usize, panel: usize, K: i32, bias: usize, at: usize): void {
  pair2x16HalfOf<Folded>(tile, panel, K, bias, at);
}

/** Four f16 columns from the high halves of v (weights.ts highHalfBits): widened, or Folded bits as they are. */
// @ts-ignore: decorator
@inline export function wHigh<F>(v: v128, mask: v128): v128 {
  return isInteger<F>() ? highHalfBits(v, mask) : highHalfFloats(v, mask);
}

/** Bias columns 0, 2, 4, 6 / 1, 3, 5, 7 of a panel (0: zeros). */
// @ts-ignore: decorator
@inline export function biasEven(bias: usize, at: usize): v128 {
  return bias ? i32x4.shuffle(v128.load(bias + at), v128.load(bias + at, 16), 0, 2, 4, 6) : f32x4.splat(0);
}

// @ts-ignore: decorator
@inline export function biasOdd(bias: usize, at: usize): v128 {
  return bias ? i32x4.shuffle(v128.load(bias + at), v128.load(bias + at, 16), 1, 3, 5, 7) : f32x4.splat(0);
}

/** 128 bytes of ACC from byte `at`, as (even, odd) columns per panel → (cols 0..3, 4..7). */
export function unzipAccumulators(at: usize = 0): void {
  for (let i = at; i < at + 128; i += 32) {
    const even = v128.load(ACC + i);
    const odd = v128.load(ACC + i, 16);
    v128.store(ACC + i, i32x4.shuffle(even, odd, 0, 4, 1, 5));
    v128.store(ACC + i, i32x4.shuffle(even, odd, 2, 6, 3, 7), 16);
  }
}
