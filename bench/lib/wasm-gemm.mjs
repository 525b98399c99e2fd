// Host for bench/wasm/gemm.ts: switchyard's f32-down-4x8 micro-kernel as a bare C = A · Bᵀ (A's row tiles
// packed into a scratch of M × K floats on each call).
// B is packed once (as a model load would); each call copies A in and C out, as the peers' run() does.
import { readFile } from 'node:fs/promises';

const PANEL = 8; // DOWN_COLS of assembly/ffn/layout.ts
const align = (n) => Math.ceil(n / 64) * 64;

export async function loadBareGemm(file) {
  const bytes = await readFile(file);
  if (!WebAssembly.validate(bytes)) return undefined; // relaxed build on an engine without relaxed SIMD
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const x = instance.exports;
  return { variant: x.relaxed() === 1 ? 'relaxed-simd' : 'simd128', exports: x };
}

/**
 * Binds B [N, K] into a fresh instance's memory.
 * @returns { run(a: Float32Array [M, K], M): Float32Array [M, N], bytes }
 */
export function prepareBareGemm(gemm, b, N, K, maxM) {
  if (K % 4 !== 0 || N % PANEL !== 0) throw new Error(`bare GEMM needs K % 4 = 0 and N % 8 = 0, got K=${K} N=${N}`);
  const x = gemm.exports;
  const base = align(x.heapBase());
  const packedPtr = base;
  const aPtr = align(packedPtr + 4 * N * K);
  const cPtr = align(aPtr + 4 * maxM * K);
  const tilesPtr = align(cPtr + 4 * maxM * N);
  const end = tilesPtr + 4 * Math.ceil(maxM / 4) * 4 * K;
  const have = x.memory.buffer.byteLength;
  if (end > have) x.memory.grow(Math.ceil((end - have) / 65536));
  const f32 = new Float32Array(x.memory.buffer);
  // [N / 8, K, 8]: panel q holds rows 8q..8q+7 of B, interleaved per input index.
  for (let n = 0; n < N; n++) {
    let o = (packedPtr >>> 2) + Math.floor(n / PANEL) * K * PANEL + (n % PANEL);
    for (let i = 0; i < K; i++, o += PANEL) f32[o] = b[n * K + i];
  }
  return {
    run(a, M) {
      f32.set(a, aPtr >>> 2);
      x.gemm(aPtr, M, K, packedPtr, N, cPtr, tilesPtr);
      return f32.slice(cPtr >>> 2, (cPtr >>> 2) + M * N);
    },
  };
}
