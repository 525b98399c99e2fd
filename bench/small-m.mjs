#!/usr/bin/env node
// How close the small-M f32 kernels come to memory bandwidth: the whole-group kernels for 1, 2, 3 and 4 rows
// of an expert (row1x32, pair2x32F32, tile3x32F32, tile4x32F32 — what gate/up and down run on a
// group read from DRAM), K = 1024 and 2048 (the moe suite's two blocks). "DRAM": one call per group, groups
// rotating over 256 MB (≫ L3); "L2": the same group again and again, the kernel's own speed when memory is not
// in the way. Beside them the memory probe (wasm/stream.ts: a read loop, no arithmetic) in the same rounds.
// A kernel's ceiling from DRAM is the lower of the probe and its L2 speed (its arithmetic): the table prints
// both and the share of that ceiling reached. Medians over rounds that alternate the kernels.
// Usage: flock /tmp/sy/bench.lock node bench/small-m.mjs [--relaxed]
//   (--relaxed: the FMA build, re-run under --experimental-wasm-relaxed-simd on Node 20; random weights:
//   timing only, the tests check the results).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildBenchWasm } from './lib/build.mjs';

const relaxed = process.argv.includes('--relaxed');
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
if (relaxed && !process.execArgv.includes(RELAXED_FLAG)) {
  const r = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const file = await buildBenchWasm('bench/wasm/small-m.ts', relaxed ? 'small-m-relaxed.wasm' : 'small-m.wasm', relaxed);

const { instance } = await WebAssembly.instantiate(readFileSync(file), {});
const x = instance.exports;
const KERNELS = [['row1x32F32', 1], ['pair2x32F32', 2], ['tile3x32F32', 3], ['tile4x32F32', 4]];
const ROUNDS = 15, DRAM_BYTES = 256e6, GROUPS_PER_RUN = 128, L2_CALLS = 48;
const align = (n) => Math.ceil(n / 64) * 64;
let s = 1;
const random = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];

// One layout for both K: the rows ([K][4] f32, a packed tile; the single-row kernel reads row 0 of it), then
// the groups of four [K][8] f32 panels, panelBytes apart.
const K_MAX = 2048;
const tilePtr = align(x.heapBase() + 64);
const wPtr = align(tilePtr + 16 * K_MAX + 64);
x.memory.grow(Math.ceil((wPtr + DRAM_BYTES + 65536 - x.memory.buffer.byteLength) / 65536));
const f32 = new Float32Array(x.memory.buffer);
for (let i = 0; i < 4 * K_MAX; i++) f32[tilePtr / 4 + i] = 2 * random() - 1;
for (let i = wPtr / 4; i < (wPtr + DRAM_BYTES) / 4; i++) f32[i] = (2 * random() - 1) * 0.05;

function measure(K) {
  const panelBytes = K * 32, groupBytes = 4 * panelBytes, nGroup = Math.floor(DRAM_BYTES / groupBytes);
  let g0 = 0;
  const dram = (fn) => {
    const t = performance.now();
    for (let g = g0; g < g0 + GROUPS_PER_RUN; g++) fn(tilePtr, wPtr + (g % nGroup) * groupBytes, panelBytes, K, 0);
    return (GROUPS_PER_RUN * groupBytes) / ((performance.now() - t) * 1e6);
  };
  const l2 = (fn) => {
    fn(tilePtr, wPtr, panelBytes, K, 0);
    const t = performance.now();
    for (let i = 0; i < L2_CALLS; i++) fn(tilePtr, wPtr, panelBytes, K, 0);
    return (L2_CALLS * groupBytes) / ((performance.now() - t) * 1e6);
  };
  const probe = (_tile, group) => x.stream(group, groupBytes);
  const all = [['memory probe', probe, 0], ...KERNELS.map(([n, rows]) => [n, x[n], rows])];
  const got = all.map(() => ({ dram: [], l2: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (let j = 0; j < all.length; j++) {
      const i = (j + round) % all.length;
      got[i].dram.push(dram(all[i][1]));
      got[i].l2.push(l2(all[i][1]));
      g0 += GROUPS_PER_RUN;
    }
  }
  const memory = med(got[0].dram);
  console.log(`K ${K} (groups of ${groupBytes / 1024} KiB)   memory probe from DRAM ${memory.toFixed(1)} GB/s, from L2 ${med(got[0].l2).toFixed(1)}`);
  console.log('  kernel                rows   DRAM GB/s   L2 GB/s   ceiling   DRAM / ceiling   DRAM / memory');
  for (let i = 1; i < all.length; i++) {
    const d = med(got[i].dram), c = med(got[i].l2), ceiling = Math.min(memory, c);
    console.log(`  ${all[i][0].padEnd(22)}${String(all[i][2]).padStart(4)}${d.toFixed(1).padStart(12)}${c.toFixed(1).padStart(10)}${ceiling.toFixed(1).padStart(10)}${`${Math.round((100 * d) / ceiling)} %`.padStart(17)}${`${Math.round((100 * d) / memory)} %`.padStart(16)}`);
  }
}

console.log(`small-M f32 kernels, ${relaxed ? 'relaxed (FMA)' : 'simd128'} build, 1 thread; medians of ${ROUNDS} alternating rounds`);
for (const K of [1024, 2048]) measure(K);
