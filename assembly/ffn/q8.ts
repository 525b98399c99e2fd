// int8 kernels with integer dot products. Widening every int8 weight to f32 costs ~4 instructions per
// 4 weights, which leaves int8 no faster than f32 from cache; here the activations are rounded once to
// 16-bit integers per block of Q8_BLOCK inputs (scale sx = amax / 32767, error ≤ sx / 2 — 2⁻¹⁶ of the
// block's largest |x|, ~250× below the int8 weights' own rounding), and i32x4.dot_i16x8_s does 8
// multiply-adds per instruction on pairs of consecutive k:
//   y_c = Σ_blocks sw[b][c] · sx[b] · Σ_{k in b} q[k][c] · xq[k]
// int8 panels are stored pair-interleaved, [K / 2][8][2] (convert.ts), so 16 bytes = two steps of K
// for 8 columns, ready for the dot product; whole groups of four panels interleave those 16-byte pairs,
// [K / 2][4][8][2] (weights.ts), and are read a group at a time, one stream in order. Bounds: |xq| ≤ 32767,
// |q| ≤ 127, 32 terms per block: |Σ| ≤ 1.4e8 < 2³¹; its conversion to f32 rounds by at most 2⁻²⁴ relative.
//   q8-tile4x8:  a tile of 4 rows [K / 2][4][2] i16 × one panel (the last nPanel % 4); i32 block sums in
//                registers, f32 sums in ACC (rows 0..3 × cols 0..3, 4..7, as tile.ts's), updated once per
//                block; q8Tile3x8 and q8Tile2x8 leave the padding rows of a last tile out;
//   q8-tile4x32: the same tile × an interleaved group, block by block, the four panels of each block in
//                turn (its 1 KiB read in order, then from L1 for the next panel): the f32 sums of panel j at
//                acc4() + 128 j, laid out as ACC. Per panel, the sums are q8-tile4x8's, bit for bit;
//   q8-row1x32:  one row × an interleaved group (one stream);
//   q8-row1x8:   one row × one panel (the last nPanel % 4).
// What the interleaved groups gained, measured: weights.ts.
import { ACC, FourRows, ThreeRows, TwoRows } from './tile';
import { Q8_BLOCK, weightsHi, weightsLo } from './weights';

/**
 * The f32 sums of a tile × an interleaved group (q8Tile4x32): panel j at acc4() + 128 j, as ACC holds one
 * panel's; this thread's, after its ACC (tile.ts).
 */
// @ts-ignore: decorator
@inline export function acc4(): usize {
  return ACC + 256;
}

/**
 * v / amax · 32767, rounded, per lane: x / amax is in [−1, 1] whatever amax, where x · (32767 / amax) would
 * overflow to ∞ (and saturate every value) for amax below ~1e-34. An all-zero block (amax 0) gives 0/0 =
 * NaN, which the saturating conversion turns into 0.
 */
// @ts-ignore: decorator
@inline function toI16(v: v128, amax: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(f32x4.div(v, amax), f32x4.splat(32767))));
}

/**
 * x [K] f32 → xq [K] i16 and sx [K / Q8_BLOCK] f32, per block of Q8_BLOCK. K % Q8_BLOCK == 0.
 */
export function quantizeRow(x: usize, K: i32, xq: usize, sx: usize): void {
  for (let b = 0; b < K; b += Q8_BLOCK) {
    const xb = x + (<usize>b << 2);
    let m = f32x4.splat(0);
    for (let i = 0; i < Q8_BLOCK; i += 4) m = f32x4.max(m, f32x4.abs(v128.load(xb + (<usize>i << 2))));
    const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const scale: f32 = amax / 32767;
    store<f32>(sx + (<usize>(b / Q8_BLOCK) << 2), scale);
    const am = f32x4.splat(amax);
    const out = xq + (<usize>b << 1);
    for (let i = 0; i < Q8_BLOCK; i += 8) {
      const lo = toI16(v128.load(xb + (<usize>i << 2)), am);
      const hi = toI16(v128.load(xb + (<usize>i << 2), 16), am);
      v128.store(out + (<usize>i << 1), i16x8.narrow_i32x4_s(lo, hi));
    }
  }
}

/** Adds the pairs of 4 columns (i16 lanes: c k, c k+1, …) times the pair xp to acc. */
// @ts-ignore: decorator
@inline function dot(acc: v128, w: v128, xp: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(w, xp));
}

/**
 * f32 row tiles [nTile][K][4] (pack.ts) → i16 pair tiles qt [nTile][K / 2][4][2] and per-row block scales
 * qs [nTile][K / Q8_BLOCK][4]. Rows are the lanes of the f32 tile, so each row gets its own scale.
 */
export function quantizeTiles(tiles: usize, nTile: i32, K: i32, qt: usize, qs: usize): void {
  const n = <usize>nTile * <usize>K;
  for (let b: usize = 0; b < n; b += <usize>Q8_BLOCK) {
    const src = tiles + (b << 4);
    let m = f32x4.splat(0);
    for (let k: usize = 0; k < <usize>Q8_BLOCK; k++) m = f32x4.max(m, f32x4.abs(v128.load(src + (k << 4))));
    const scale = f32x4.div(m, f32x4.splat(32767));
    v128.store(qs + (b >> 1), scale);
    const dst = qt + (b << 3);
    for (let k: usize = 0; k < <usize>Q8_BLOCK; k += 2) {
      const a = toI16(v128.load(src + (k << 4)), m);
      const c = toI16(v128.load(src + (k << 4), 16), m);
      // (r0 k, r1 k, r2 k, r3 k, r0 k+1, …) → (r0 k, r0 k+1, r1 k, r1 k+1, …)
      const n16 = i16x8.narrow_i32x4_s(a, c);
      v128.store(dst + (k << 3), i8x16.shuffle(n16, n16, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
    }
  }
}

/**
 * One block of Q8_BLOCK k of a tile × one panel: the rows' i32 sums over its pairs of steps (x: the tile's,
 * 16 bytes each; p: the panel's, step bytes apart), then flushed into acc (laid out as ACC) with the block's
 * scales (s: the panel's, sx: the rows').
 */
// @ts-ignore: decorator
@inline function tileBlock<R>(x: usize, p: usize, step: usize, s: usize, sx: usize, acc: usize): void {
  let l0 = i32x4.splat(0), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
  const end = x + (<usize>Q8_BLOCK << 3);
  while (x < end) {
    const w = v128.load(p);
    const wl = i16x8.extend_low_i8x16_s(w);
    const wh = i16x8.extend_high_i8x16_s(w);
    let xp = v128.load32_splat(x);
    l0 = dot(l0, wl, xp); h0 = dot(h0, wh, xp);
    xp = v128.load32_splat(x, 4);
    l1 = dot(l1, wl, xp); h1 = dot(h1, wh, xp);
    if (sizeof<R>() == 4) {
      xp = v128.load32_splat(x, 8);
      l2 = dot(l2, wl, xp); h2 = dot(h2, wh, xp);
    }
    if (isInteger<R>()) {
      xp = v128.load32_splat(x, 12);
      l3 = dot(l3, wl, xp); h3 = dot(h3, wh, xp);
    }
    x += 16;
    p += step;
  }
  const sLo = weightsLo<u16>(s);
  const sHi = weightsHi<u16>(s);
  flush(0, l0, h0, sLo, sHi, v128.load32_splat(sx), acc);
  flush(1, l1, h1, sLo, sHi, v128.load32_splat(sx, 4), acc);
  if (sizeof<R>() == 4) flush(2, l2, h2, sLo, sHi, v128.load32_splat(sx, 8), acc);
  if (isInteger<R>()) flush(3, l3, h3, sLo, sHi, v128.load32_splat(sx, 12), acc);
}

/** Bytes of one block of a tile's pairs of steps, and of one panel's (both 16 bytes a pair). */
const BLOCK_BYTES: usize = <usize>Q8_BLOCK << 3;

// @ts-ignore: decorator
@inline function q8TileOf<R>(qt: usize, qs: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  for (let r: usize = 0; r < 4; r++) {
    if (bias) memory.copy(ACC + (r << 5), bias, 32);
    else memory.fill(ACC + (r << 5), 0, 32);
  }
  // Block b: the tile's and the panel's pairs at b · BLOCK_BYTES, the scales (panel's and rows') at b · 16.
  const end = <usize>K << 3;
  for (let o: usize = 0; o < end; o += BLOCK_BYTES) tileBlock<R>(qt + o, panel + o, 16, scales + (o >> 4), qs + (o >> 4), ACC);
}

/**
 * @param qt, qs  one tile from quantizeTiles
 * @param panel   int8 panel [K / 2][8][2]
 * @param scales  its [K / Q8_BLOCK][8] f16
 * @param bias    [8], or 0
 */
export function q8Tile4x8(qt: usize, qs: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  q8TileOf<FourRows>(qt, qs, panel, scales, K, bias);
}

/**
 * q8Tile4x8 of a last tile with three or two real rows: its padding rows left out of the dot products
 * (each row's sums are its own, so the real rows' are q8Tile4x8's, bit for bit).
 */
export function q8Tile3x8(qt: usize, qs: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  q8TileOf<ThreeRows>(qt, qs, panel, scales, K, bias);
}

export function q8Tile2x8(qt: usize, qs: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  q8TileOf<TwoRows>(qt, qs, panel, scales, K, bias);
}

// @ts-ignore: decorator
@inline function q8TileGroupOf<R>(qt: usize, qs: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  for (let j: usize = 0; j < 4; j++) {
    for (let r: usize = 0; r < 4; r++) {
      if (bias) memory.copy(acc4() + (j << 7) + (r << 5), bias + (j << 5), 32);
      else memory.fill(acc4() + (j << 7) + (r << 5), 0, 32);
    }
  }
  // Block b of the group: 4 · BLOCK_BYTES at 4 · o, panel j's pairs 16 · j bytes into each 64.
  const end = <usize>K << 3;
  for (let o: usize = 0; o < end; o += BLOCK_BYTES) {
    for (let j: usize = 0; j < 4; j++) {
      tileBlock<R>(qt + o, group + (o << 2) + (j << 4), 64, scales + (o >> 4) + j * <usize>scaleBytes, qs + (o >> 4), acc4() + (j << 7));
    }
  }
}

/**
 * A tile (quantizeTiles) × a whole interleaved group of four int8 panels → acc4(), panel j's sums 128 j bytes on.
 * @param group   the group's start, [K / 2][4][8][2]
 * @param scales  panel 0's [K / Q8_BLOCK][8] f16; panel j's scaleBytes · j further
 * @param bias    [4][8], or 0
 */
export function q8Tile4x32(qt: usize, qs: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  q8TileGroupOf<FourRows>(qt, qs, group, scales, scaleBytes, K, bias);
}

/** q8Tile4x32 of a last tile with three or two real rows, its padding rows left out (as q8Tile3x8). */
export function q8Tile3x32(qt: usize, qs: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  q8TileGroupOf<ThreeRows>(qt, qs, group, scales, scaleBytes, K, bias);
}

export function q8Tile2x32(qt: usize, qs: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  q8TileGroupOf<TwoRows>(qt, qs, group, scales, scaleBytes, K, bias);
}

/** One row (quantizeRow) × one int8 panel → ACC[0], ACC[1]. */
export function q8Row1x8(xq: usize, sx: usize, panel: usize, scales: usize, K: i32, bias: usize): void {
  if (bias) memory.copy(ACC, bias, 32);
  else memory.fill(ACC, 0, 32);
  let p = panel;
  let s = scales;
  for (let b = 0; b < K; b += Q8_BLOCK) {
    let l0 = i32x4.splat(0), h0 = l0, l1 = l0, h1 = l0;
    const end = xq + (<usize>(b + Q8_BLOCK) << 1);
    // Two pairs per iteration over two accumulator sets, so consecutive adds do not wait on each other.
    for (let x = xq + (<usize>b << 1); x < end; x += 8) {
      let w = v128.load(p);
      let xp = v128.load32_splat(x);
      l0 = dot(l0, i16x8.extend_low_i8x16_s(w), xp); h0 = dot(h0, i16x8.extend_high_i8x16_s(w), xp);
      w = v128.load(p, 16);
      xp = v128.load32_splat(x, 4);
      l1 = dot(l1, i16x8.extend_low_i8x16_s(w), xp); h1 = dot(h1, i16x8.extend_high_i8x16_s(w), xp);
      p += 32;
    }
    flush(0, i32x4.add(l0, l1), i32x4.add(h0, h1), weightsLo<u16>(s), weightsHi<u16>(s), v128.load32_splat(sx + (<usize>(b / Q8_BLOCK) << 2)));
    s += 16;
  }
}

/**
 * ACC[2i], ACC[2i+1] (or acc's) += (lo, hi) · sx · (sLo, sHi), the scales of panel i at this block. The
 * integer sum takes sx first: sx · sw is below f32's normal range when the activations are (amax under
 * ~4e-34 makes sx subnormal, and sw ~1e-3 then leaves a product with a few bits), while Σ · sx is the size
 * of the partial dot product itself, so both products stay normal for any activations whose output is.
 */
// @ts-ignore: decorator
@inline function flush(i: usize, lo: v128, hi: v128, sLo: v128, sHi: v128, sxb: v128, acc: usize = ACC): void {
  const a = acc + (i << 5);
  v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(lo), sxb), sLo)));
  v128.store(a, f32x4.add(v128.load(a, 16), f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(hi), sxb), sHi)), 16);
}

/**
 * @param xq, sx     the row from quantizeRow
 * @param group      a whole group of four int8 panels, interleaved [K / 2][4][8][2] (weights.ts)
 * @param scales     panel 0's [K / Q8_BLOCK][8] f16; the next panels' follow scaleBytes apart
 * @param bias       [4][8], or 0
 */
export function q8Row1x32(xq: usize, sx: usize, group: usize, scales: usize, scaleBytes: usize, K: i32, bias: usize): void {
  if (bias) memory.copy(ACC, bias, 128);
  else memory.fill(ACC, 0, 128);
  let p = group;
  let s = scales;
  for (let b = 0; b < K; b += Q8_BLOCK) {
    let l0 = i32x4.splat(0), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0;
    const end = xq + (<usize>(b + Q8_BLOCK) << 1);
    for (let x = xq + (<usize>b << 1); x < end; x += 4) {
      const xp = v128.load32_splat(x);
      let w = v128.load(p);
      l0 = dot(l0, i16x8.extend_low_i8x16_s(w), xp); h0 = dot(h0, i16x8.extend_high_i8x16_s(w), xp);
      w = v128.load(p, 16);
      l1 = dot(l1, i16x8.extend_low_i8x16_s(w), xp); h1 = dot(h1, i16x8.extend_high_i8x16_s(w), xp);
      w = v128.load(p, 32);
      l2 = dot(l2, i16x8.extend_low_i8x16_s(w), xp); h2 = dot(h2, i16x8.extend_high_i8x16_s(w), xp);
      w = v128.load(p, 48);
      l3 = dot(l3, i16x8.extend_low_i8x16_s(w), xp); h3 = dot(h3, i16x8.extend_high_i8x16_s(w), xp);
      p += 64;
    }
    const sxb = v128.load32_splat(sx + (<usize>(b / Q8_BLOCK) << 2));
    flush(0, l0, h0, weightsLo<u16>(s), weightsHi<u16>(s), sxb);
    flush(1, l1, h1, weightsLo<u16>(s + scaleBytes), weightsHi<u16>(s + scaleBytes), sxb);
    flush(2, l2, h2, weightsLo<u16>(s + 2 * scaleBytes), weightsHi<u16>(s + 2 * scaleBytes), sxb);
    flush(3, l3, h3, weightsLo<u16>(s + 3 * scaleBytes), weightsHi<u16>(s + 3 * scaleBytes), sxb);
    s += 16;
  }
}
