// Expert weights converted to the f16 and int8 layouts of weights.ts at load time, from packed f32 panels
// [nPanel][K][8] (layout.ts): the same bits as the TypeScript writers of these layouts (test/node/
// wasm-layouts.ts, the reference wasm-convert.test.ts compares with; ts/formats/q8.ts holds the int8 rule),
// in a fraction of the time: in TypeScript int8 took ~17 ns a weight and f16 ~10 (a GPT-OSS-20B layer's
// int8 load spent 23 s there), here 1.1 and 0.6 (q8-rule.ts: no division per weight).
//   f16:  round to nearest even; whole groups of four panels interleaved step by step, [K][4][8].
//   int8: per 32 steps of one column, scale = f16(amax / 127 in f32); q = w / scale rounded half away from
//         zero, clamped to ±127; pairs of steps [K / 2][8][2], whole groups of four panels interleaved pair
//         by pair, [K / 2][4][8][2]; scales [nPanel][K / 32][8] as f16 bits.
import { Q8_BLOCK } from './weights';
import { halves } from './f16-bits';
import { blockScale, q8Quad, reciprocal } from './q8-rule';

const PANEL: i32 = 8;
const GROUP: i32 = 4;

/**
 * src f32 panels [nPanel][K][8] → binary16 bits at dst, every whole group of four panels interleaved step
 * by step, [K][4][8], the last nPanel % 4 panels as they are. Finite weights only (the host refuses the
 * others first): ±∞ and NaN would not keep encodeF16's payloads.
 */
export function convertF16(src: usize, nPanel: i32, K: i32, dst: usize): void {
  const whole = nPanel - (nPanel % GROUP);
  let i = src;
  for (let p = 0; p < nPanel; p++) {
    // Step k of panel p: in its group at step k, slot p % 4 — or, past the whole groups, where it is.
    const first = p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * PANEL : p * K * PANEL;
    const stride = p < whole ? GROUP * PANEL : PANEL;
    for (let k = 0; k < K; k++, i += 32) {
      const o = dst + ((<usize>(first + k * stride)) << 1);
      v128.store(o, i16x8.narrow_i32x4_u(halves(v128.load(i)), halves(v128.load(i, 16))));
    }
  }
}

/**
 * src f32 panels [nPanel][K][8] (K % 32 == 0) → int8 at q, pairs of steps per column, every whole group of
 * four panels interleaved pair by pair, [K / 2][4][8][2], the rest [K / 2][8][2]; the blocks' scales as
 * binary16 bits at scales, [nPanel][K / 32][8].
 */
export function convertInt8(src: usize, nPanel: i32, K: i32, q: usize, scales: usize): void {
  const nBlock = K / Q8_BLOCK;
  const whole = nPanel - (nPanel % GROUP);
  for (let p = 0; p < nPanel; p++) {
    // Pair j of panel p: in its group at pair j, slot p % 4 — or, past the whole groups, where it is.
    const pairs = p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * 2 * PANEL : p * K * PANEL;
    const stride = p < whole ? GROUP * 2 * PANEL : 2 * PANEL;
    for (let b = 0; b < nBlock; b++) {
      // The block, [32][8] f32, is read front to back: the eight columns' amax at once, then step by step.
      const first = src + ((<usize>((p * K + b * Q8_BLOCK) * PANEL)) << 2);
      let lo = f32x4.splat(0);
      let hi = f32x4.splat(0);
      for (let k = 0; k < Q8_BLOCK; k++) {
        lo = f32x4.pmax(lo, f32x4.abs(v128.load(first + (<usize>k << 5))));
        hi = f32x4.pmax(hi, f32x4.abs(v128.load(first + (<usize>k << 5), 16)));
      }
      const scaleAt = scales + ((<usize>((p * nBlock + b) * PANEL)) << 1);
      // The eight columns' scales, f32 lanes: columns 0..3, then 4..7.
      let sLo = f32x4.splat(0);
      let sHi = f32x4.splat(0);
      sLo = f32x4.replace_lane(sLo, 0, <f32>blockScale(f32x4.extract_lane(lo, 0), scaleAt));
      sLo = f32x4.replace_lane(sLo, 1, <f32>blockScale(f32x4.extract_lane(lo, 1), scaleAt + 2));
      sLo = f32x4.replace_lane(sLo, 2, <f32>blockScale(f32x4.extract_lane(lo, 2), scaleAt + 4));
      sLo = f32x4.replace_lane(sLo, 3, <f32>blockScale(f32x4.extract_lane(lo, 3), scaleAt + 6));
      sHi = f32x4.replace_lane(sHi, 0, <f32>blockScale(f32x4.extract_lane(hi, 0), scaleAt + 8));
      sHi = f32x4.replace_lane(sHi, 1, <f32>blockScale(f32x4.extract_lane(hi, 1), scaleAt + 10));
      sHi = f32x4.replace_lane(sHi, 2, <f32>blockScale(f32x4.extract_lane(hi, 2), scaleAt + 12));
      sHi = f32x4.replace_lane(sHi, 3, <f32>blockScale(f32x4.extract_lane(hi, 3), scaleAt + 14));
      const iLo = reciprocal(sLo);
      const iHi = reciprocal(sHi);
      // Two steps at a time: their 16 values are one pair of the layout, [8][2], stored at once.
      for (let k = 0; k < Q8_BLOCK; k += 2) {
        const row = first + (<usize>k << 5);
        const even = i16x8.narrow_i32x4_s(q8Quad(v128.load(row), sLo, iLo), q8Quad(v128.load(row, 16), sHi, iHi));
        const odd = i16x8.narrow_i32x4_s(q8Quad(v128.load(row, 32), sLo, iLo), q8Quad(v128.load(row, 48), sHi, iHi));
        const bytes = i8x16.narrow_i16x8_s(even, odd);
        v128.store(q + <usize>(pairs + ((b * Q8_BLOCK + k) >> 1) * stride), i8x16.shuffle(bytes, bytes, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
      }
    }
  }
}
