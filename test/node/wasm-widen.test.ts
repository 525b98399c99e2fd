// The module's checkpoint decoders (assembly/ffn/widen.ts) against the TypeScript ones they stand in for on the
// WASM load path: widenMxfp4 against formats/mxfp4.ts Mxfp4Rows, exhaustively — every byte (both nibbles) under
// every scale but 255 (NaN, refused before any read), including the subnormal scales 2^-127 and 2^-126 and
// the scales whose largest values overflow to ±∞ (also refused before a read, but the two decoders must still
// agree) — bit for bit, −0 included; apart, and in place as wasm-pack.ts lays the bytes out (the blocks in
// the last eighth of their f32 block). widenFp8 against formats/fp8.ts Fp8Rows: every e4m3 byte but the NaN
// ones (refused before any read) under scales that make subnormal, overflowing, negative and zero products,
// with blocks of 16 columns, of 7 (no whole SIMD step), of 40 over rows of 100 (a partial last block), and
// one scale a row; apart and in place (the bytes in the last quarter). widenF16 against formats/dtype.ts
// halfReader on every finite f16 (subnormals, ±0), with a tail off the SIMD width; widenBf16 against bf16
// widening by hand; both in place too.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILD_FILES, buildsUnderTest } from './wasm-builds.js';
import { Mxfp4Rows } from '../../ts/formats/mxfp4.js';
import { Fp8Rows } from '../../ts/formats/fp8.js';
import { rng } from '../cases/rng.js';
import { halfReader } from '../../ts/formats/dtype.js';

interface Decoders {
  memory: WebAssembly.Memory;
  heapBase(): number;
  widenBf16(src: number, n: number, dst: number): void;
  widenF16(src: number, n: number, dst: number): void;
  widenMxfp4(blocks: number, scales: number, nBlock: number, dst: number): void;
  widenFp8(src: number, scales: number, nRow: number, cols: number, blockCols: number, dst: number): void;
}

async function decoders(file: string): Promise<Decoders> {
  const { instance } = await WebAssembly.instantiate(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)), {});
  return instance.exports as unknown as Decoders;
}

/** Blocks holding every byte 0..255 once per scale 0..254: 16 blocks a scale, rows of one block each. */
function everyByteUnderEveryScale(): { blocks: Uint8Array; scales: Uint8Array } {
  const nScale = 255;
  const blocks = new Uint8Array(nScale * 16 * 16);
  const scales = new Uint8Array(nScale * 16);
  for (let s = 0; s < nScale; s++) {
    for (let b = 0; b < 16; b++) {
      scales[s * 16 + b] = s;
      for (let j = 0; j < 16; j++) blocks[(s * 16 + b) * 16 + j] = ((b * 16 + j) * 7) & 255; // a permutation of 0..255 per scale (7 is odd)
    }
  }
  return { blocks, scales };
}

function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}

/** Grows the module's memory to at least `bytes`. */
function ensureMemory(x: Decoders, bytes: number): void {
  if (x.memory.buffer.byteLength < bytes) x.memory.grow(Math.ceil((bytes - x.memory.buffer.byteLength) / 65536));
}

/** A half-precision widening of `bits` gives wantBits, from bits apart and in place (src = dst + 2n). */
function expectHalfWidening(x: Decoders, widen: (src: number, n: number, dst: number) => void, bits: Uint16Array, wantBits: Uint32Array): void {
  const n = bits.length;
  const base = align(x.heapBase());
  ensureMemory(x, base + 8 * n + 1024);
  new Uint16Array(x.memory.buffer, base + 4 * n + 64, n).set(bits);
  widen(base + 4 * n + 64, n, base);
  expect(new Uint32Array(x.memory.buffer, base, n)).toEqual(wantBits);
  new Uint32Array(x.memory.buffer, base, n).fill(0xdeadbeef);
  new Uint16Array(x.memory.buffer, base + 2 * n, n).set(bits);
  widen(base + 2 * n, n, base);
  expect(new Uint32Array(x.memory.buffer, base, n)).toEqual(wantBits);
}

describe.each(buildsUnderTest().map((name) => [name, BUILD_FILES[name]]))('checkpoint decoders (%s)', (_name, file) => {
  it('widenMxfp4 = Mxfp4Rows, every byte under every scale, bit for bit, apart and in place', async () => {
    const x = await decoders(file);
    const { blocks, scales } = everyByteUnderEveryScale();
    const nBlock = scales.length;
    const n = nBlock * 32;
    const want = new Float32Array(n);
    const rows = new Mxfp4Rows(blocks, scales, 32, 'test');
    for (let b = 0; b < nBlock; b++) rows.read(b, want, b * 32);
    const wantBits = new Uint32Array(want.buffer);
    expect(wantBits.some((bits) => bits === 0x80000000), '−0 among the values').toBe(true);
    expect(want.some((v) => v === Infinity) && want.some((v) => v > 0 && v < 2 ** -126), '±∞ and subnormals among the values').toBe(true);

    const base = align(x.heapBase());
    ensureMemory(x, base + 4 * n + blocks.length + scales.length + 1024);
    const mem = () => new Uint8Array(x.memory.buffer);
    const dst = base;
    const scalesAt = align(dst + 4 * n);
    mem().set(scales, scalesAt);
    // Apart: the blocks after the scales.
    const apart = align(scalesAt + scales.length);
    mem().set(blocks, apart);
    x.widenMxfp4(apart, scalesAt, nBlock, dst);
    expect(new Uint32Array(x.memory.buffer, dst, n)).toEqual(wantBits);
    // In place: the blocks in the last eighth of the output.
    new Uint32Array(x.memory.buffer, dst, n).fill(0xdeadbeef);
    mem().set(blocks, dst + 4 * n - n / 2);
    x.widenMxfp4(dst + 4 * n - n / 2, scalesAt, nBlock, dst);
    expect(new Uint32Array(x.memory.buffer, dst, n)).toEqual(wantBits);
  });

  it.each([[16, 64, 16], [9, 7, 7], [12, 100, 40], [5, 48, 48]])('widenFp8 = Fp8Rows, every e4m3 byte, rows %i × %i in blocks of %i columns, bit for bit, apart and in place', async (rows, cols, blockCols) => {
    const x = await decoders(file);
    const next = rng(rows * cols);
    // Every byte that is a number, in turn, then random ones.
    const numbers = Array.from({ length: 256 }, (_, b) => b).filter((b) => (b & 0x7f) !== 0x7f);
    const bytes = Uint8Array.from({ length: rows * cols }, (_, i) => (i < numbers.length ? numbers[i] : numbers[Math.floor(next() * numbers.length)]));
    const gridCols = Math.ceil(cols / blockCols);
    // A row of blocks per row (block rows of 1); scales from 2^-140 (subnormal products) to 2^120 (past f32), ±, and 0.
    const special = [2 ** -140, 2 ** 120, -3.5e-3, 0, -0, 1, 7.25e-5, 2 ** -126];
    const scaleInv = Float32Array.from({ length: rows * gridCols }, (_, i) => (i < special.length ? special[i] : (next() - 0.5) * 2 ** (-20 + 30 * next())));
    const fp8 = new Fp8Rows(bytes, scaleInv, [rows, cols], [1, blockCols]);
    const want = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) fp8.read(r, want, r * cols);
    const wantBits = new Uint32Array(want.buffer);

    const n = rows * cols;
    const base = align(x.heapBase());
    ensureMemory(x, base + 8 * n + 4 * scaleInv.length + 1024);
    const dst = base;
    const scalesAt = align(dst + 4 * n);
    new Float32Array(x.memory.buffer, scalesAt, scaleInv.length).set(scaleInv);
    const apart = align(scalesAt + 4 * scaleInv.length);
    new Uint8Array(x.memory.buffer).set(bytes, apart);
    x.widenFp8(apart, scalesAt, rows, cols, blockCols, dst);
    expect(new Uint32Array(x.memory.buffer, dst, n)).toEqual(wantBits);
    new Uint32Array(x.memory.buffer, dst, n).fill(0xdeadbeef);
    new Uint8Array(x.memory.buffer).set(bytes, dst + 3 * n);
    x.widenFp8(dst + 3 * n, scalesAt, rows, cols, blockCols, dst);
    expect(new Uint32Array(x.memory.buffer, dst, n)).toEqual(wantBits);
  });

  it('widenF16 = halfReader on every finite f16, bit for bit, apart and in place', async () => {
    const x = await decoders(file);
    const bits = Uint16Array.from({ length: 0x10000 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00).subarray(0, 63485); // not a multiple of 8
    const want = new Float32Array(bits.length);
    halfReader('f16', bits, bits.length)(0, 1, want, 0);
    expectHalfWidening(x, x.widenF16, bits, new Uint32Array(want.buffer));
  });

  it('widenBf16 puts the bits in the high half, apart and in place, with a tail off the SIMD width', async () => {
    const x = await decoders(file);
    const bits = Uint16Array.from({ length: 1003 }, (_, i) => (i * 40503 + 11) & 0xffff);
    expectHalfWidening(x, x.widenBf16, bits, Uint32Array.from(bits, (b) => b << 16 >>> 0));
  });
});
