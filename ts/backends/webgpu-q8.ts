// Block-wise int8 expert weights as the WebGPU kernels read them (the quad loads of
// ts/kernels/grouped-gemm.ts): each row of [nRow, len] is padded with zeros to a multiple of two blocks
// (Q8_PAIR = 64 weights) and cut into block pairs of 17 u32 words — the two blocks' f16 scales (the even
// block's in the low half), then the 64 int8 values, four per word, the lowest k in the lowest byte:
// 1.0625 bytes per weight. Scales and values share one buffer so the kernels need no extra binding (the
// up GEMM already binds 8 storage buffers, WebGPU's default per-stage limit).
import { encodeF16 } from '../formats/dtype.js';
import { Q8_BLOCK, q8Scale, q8Value } from '../formats/q8.js';
import { Q8_PAIR, Q8_PAIR_WORDS } from '../kernels/grouped-gemm.js';

/** Bytes of `nRow` rows of `len` weights. */
export function q8RowBytes(nRow: number, len: number): number {
  return nRow * Math.ceil(len / Q8_PAIR) * Q8_PAIR_WORDS * 4;
}

/** a [nRow, len] f32 → the device layout above. */
export function packQ8Rows(a: Float32Array, nRow: number, len: number): Uint32Array {
  const nPair = Math.ceil(len / Q8_PAIR);
  const words = new Uint32Array(nRow * nPair * Q8_PAIR_WORDS);
  for (let r = 0; r < nRow; r++) {
    const row = r * len;
    for (let b = 0; b < 2 * nPair; b++) {
      const k0 = b * Q8_BLOCK;
      const k1 = Math.min(len, k0 + Q8_BLOCK);
      let amax = 0;
      for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(a[row + k]));
      const scale = q8Scale(amax);
      const at = (r * nPair + (b >> 1)) * Q8_PAIR_WORDS;
      words[at] |= encodeF16(scale) << (16 * (b & 1));
      for (let k = k0; k < k1; k++) {
        const i = k - k0 + (b & 1) * Q8_BLOCK;
        words[at + 1 + (i >> 2)] |= (q8Value(a[row + k], scale) & 0xff) << (8 * (i & 3));
      }
    }
  }
  return words;
}
