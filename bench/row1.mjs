#!/usr/bin/env node
// The decode kernel alone: row1x32 (one row × four panels, assembly/ffn/tile.ts), f16 (folded) and f32,
// K = 1024 as the E32/k4/d1024/f512 block's gate/up. "DRAM": 128 panels per expert (an expert's gate/up),
// rotating over experts worth ≫ L3 (96 MB of f16, 192 MB of f32); "L2": the same four panels again and
// again. Prints medians over rounds that alternate the kernels, in G weights/s (and GB/s from DRAM).
// Usage: flock /tmp/sy/bench.lock node bench/row1.mjs [file.wasm [extra exports...]]
//   (default: bench/.build/row1.wasm, built here from bench/wasm/row1.ts; the weights are random halves:
//   timing only, the tests check the results).
import { readFileSync } from 'node:fs';
import { buildBenchWasm } from './lib/build.mjs';

const file = process.argv[2] ?? (await buildBenchWasm('bench/wasm/row1.ts', 'row1.wasm'));
const kernels = [['row1x32Folded', 2], ['row1x32F32', 4], ...process.argv.slice(3).map((n) => [n, 2])];
const { instance } = await WebAssembly.instantiate(readFileSync(file), {});
const x = instance.exports;
const K = 1024, PANELS = 128, ROUNDS = 15, EXPERTS_PER_RUN = 8;
const align = (n) => Math.ceil(n / 64) * 64;
const xPtr = align(x.heapBase() + 64);
const wPtr = align(xPtr + 4 * K);
const expertBytes = (bytes) => PANELS * K * 8 * bytes;
const nExpert = Math.ceil(96e6 / expertBytes(2));
const end = wPtr + nExpert * expertBytes(4) + 4096;
x.memory.grow(Math.ceil((end - x.memory.buffer.byteLength) / 65536));
let s = 1;
const random = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const f32 = new Float32Array(x.memory.buffer);
for (let i = 0; i < K; i++) f32[xPtr / 4 + i] = (2 * random() - 1) * 2 ** 100; // a folded row: x · 2¹¹², |x| < 1
// Weights ~ U(±0.054) (std 1/√1024) as f16 bits, or as f32 — values like the moe suite's.
const u16 = new Uint16Array(x.memory.buffer, wPtr, (nExpert * expertBytes(4)) / 2);
for (let i = 0; i < u16.length; i += 2) {
  const h = (random() < 0.5 ? 0x8000 : 0) | ((0x2400 + random() * 0x0ae0) & 0x7fff); // 2⁻⁶ .. ~0.055
  u16[i] = h;
  u16[i + 1] = h ^ 0x8000;
}

const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];
function dram(fn, bytes, e0) {
  const panelBytes = K * 8 * bytes;
  const t = performance.now();
  for (let e = e0; e < e0 + EXPERTS_PER_RUN; e++) {
    const base = wPtr + (e % Math.floor((nExpert * 2) / bytes)) * expertBytes(bytes);
    for (let g = 0; g < PANELS; g += 4) fn(xPtr, base + g * panelBytes, panelBytes, K, 0);
  }
  return (EXPERTS_PER_RUN * PANELS * K * 8) / ((performance.now() - t) * 1e6);
}
function l2(fn, bytes) {
  const t = performance.now();
  for (let r = 0; r < 2000; r++) fn(xPtr, wPtr, K * 8 * bytes, K, 0);
  return (2000 * 4 * K * 8) / ((performance.now() - t) * 1e6);
}
const out = Object.fromEntries(kernels.map(([n]) => [n, { dram: [], l2: [] }]));
let e0 = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [n, bytes] of kernels) {
    out[n].dram.push(dram(x[n], bytes, e0));
    out[n].l2.push(l2(x[n], bytes));
  }
  e0 += EXPERTS_PER_RUN;
}
for (const [n, bytes] of kernels) {
  const d = med(out[n].dram);
  console.log(`${n.padEnd(18)} DRAM ${d.toFixed(2)} G weights/s (${(d * bytes).toFixed(1)} GB/s)   L2 ${med(out[n].l2).toFixed(2)} G weights/s`);
}
