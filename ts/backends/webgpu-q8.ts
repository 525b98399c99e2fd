// Block-wise int8 expert weights as the WebGPU kernels read them (the quad loads of
// ts/kernels/grouped-gemm.ts): each row of [nRow, len] is padded with zeros to a multiple of Q8_BLOCK and
// cut into blocks of 32 weights; a block is 9 u32 words — its scale (f32 bits), then the 32 int8 values,
// four per word, the lowest k in the lowest byte. Scale and values share one buffer so the kernels need no
// extra binding (the up GEMM already binds 8 storage buffers, WebGPU's default per-stage limit).
import { Q8_BLOCK, q8Scale, q8Value } from '../formats/q8.js';
import { Q8_BLOCK_WORDS } from '../kernels/grouped-gemm.js';

/** Bytes of `nRow` rows of `len` weights. */
export function q8RowBytes(nRow: number, len: number): number {
  return nRow * Math.ceil(len / Q8_BLOCK) * Q8_BLOCK_WORDS * 4;
}

/** a [nRow, len] f32 → the device layout above. */
export function packQ8Rows(a: Float32Array, nRow: number, len: number): Uint32Array {
  const nBlock = Math.ceil(len / Q8_BLOCK);
  const words = new Uint32Array(nRow * nBlock * Q8_BLOCK_WORDS);
  const scaleBits = new Float32Array(1);
  const scaleWord = new Uint32Array(scaleBits.buffer);
  for (let r = 0; r < nRow; r++) {
    for (let b = 0; b < nBlock; b++) {
      const k0 = b * Q8_BLOCK;
      const k1 = Math.min(len, k0 + Q8_BLOCK);
      const row = r * len;
      let amax = 0;
      for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(a[row + k]));
      const scale = q8Scale(amax);
      const at = (r * nBlock + b) * Q8_BLOCK_WORDS;
      scaleBits[0] = scale;
      words[at] = scaleWord[0];
      for (let k = k0; k < k1; k++) {
        const i = k - k0;
        words[at + 1 + (i >> 2)] |= (q8Value(a[row + k], scale) & 0xff) << (8 * (i & 3));
      }
    }
  }
  return words;
}
