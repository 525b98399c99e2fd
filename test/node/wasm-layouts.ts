// Test reference: the f16 and int8 layouts of the WASM kernels (assembly/ffn/weights.ts), written in
// TypeScript from the rules of ts/formats/q8.ts and dtype.ts. The module converts the weights itself at
// prepare time (assembly/ffn/convert.ts, ~7× faster for int8 and ~16× for f16 than these writers were when
// they did it); wasm-convert.test.ts compares the two bit for bit. From packed f32 panels [nPanel][K][8]:
//   f16:  IEEE binary16 bits, round to nearest even (weights beyond ±65504 were refused before packing,
//         WasmBackend.prepareExperts). Whole groups of four panels interleaved step by
//         step, [K][4][8] (assembly/ffn/weights.ts panelAt), the rest [K][8].
//   int8: block-wise symmetric (ts/formats/q8.ts): Q8_BLOCK = 32 consecutive weights of one output column
//         along K share an f16 scale, stored as f16 bits beside the panels (2 bytes per 32 weights). A
//         panel holds pairs of steps, [K / 2][8][2]; whole groups of four panels interleave those pairs,
//         [K / 2][4][8][2], the rest as they are.
import { encodeF16 } from '../../ts/formats/dtype.js';
import { Q8_BLOCK, q8Scale, q8Value } from '../../ts/formats/q8.js';

const PANEL = 8;

/** Panels whose steps the f16 and int8 layouts interleave (assembly/ffn/weights.ts). */
const GROUP = 4;

/**
 * src f32 panels [nPanel][K][8] → f16 bits at dst[at ..], in the kernels' f16 layout: every whole group of
 * four panels interleaved step by step, [K][4][8], the last nPanel % 4 panels as they are, [K][8].
 */
export function writeF16(dst: Uint16Array, at: number, src: Float32Array, nPanel: number, K: number): void {
  const whole = nPanel - (nPanel % GROUP);
  for (let p = 0, i = 0; p < nPanel; p++) {
    // Step k of panel p: in its group at step k, slot p % 4 — or, past the whole groups, where it is.
    const first = p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * PANEL : p * K * PANEL;
    const stride = p < whole ? GROUP * PANEL : PANEL;
    for (let k = 0; k < K; k++) {
      const o = at + first + k * stride;
      for (let c = 0; c < PANEL; c++, i++) {
        dst[o + c] = encodeF16(src[i]);
      }
    }
  }
}

/**
 * src [nPanel][K][8] f32 → int8 panels at q[qAt ..], pairs of consecutive k per column as
 * i32x4.dot_i16x8_s takes them (assembly/ffn/q8.ts): every whole group of four panels interleaved pair by
 * pair, [K / 2][4][8][2], the last nPanel % 4 panels [K / 2][8][2]; and scales [nPanel][K / 32][8] as f16
 * bits at scales[sAt ..] (the scale is an f16 value: exact). K % 32 == 0.
 */
export function writeInt8(q: Int8Array, qAt: number, scales: Uint16Array, sAt: number, src: Float32Array, nPanel: number, K: number): void {
  const nBlock = K / Q8_BLOCK;
  const whole = nPanel - (nPanel % GROUP);
  for (let p = 0; p < nPanel; p++) {
    // Pair j of panel p: in its group at pair j, slot p % 4 — or, past the whole groups, where it is.
    const pairs = qAt + (p < whole ? (p - (p % GROUP)) * K * PANEL + (p % GROUP) * 2 * PANEL : p * K * PANEL);
    const stride = p < whole ? GROUP * 2 * PANEL : 2 * PANEL;
    for (let b = 0; b < nBlock; b++) {
      for (let c = 0; c < PANEL; c++) {
        const first = (p * K + b * Q8_BLOCK) * PANEL + c;
        let amax = 0;
        for (let k = 0, o = first; k < Q8_BLOCK; k++, o += PANEL) amax = Math.max(amax, Math.abs(src[o]));
        const scale = q8Scale(amax);
        scales[sAt + (p * nBlock + b) * PANEL + c] = encodeF16(scale);
        for (let k = 0, o = first; k < Q8_BLOCK; k++, o += PANEL) {
          const kk = b * Q8_BLOCK + k;
          q[pairs + (kk >> 1) * stride + c * 2 + (kk & 1)] = q8Value(src[o], scale);
        }
      }
    }
  }
}
