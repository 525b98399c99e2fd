#!/usr/bin/env node
// One expert FFN on 1 thread and on 2, the 2-thread run cut by rows, by columns and as 'auto' chooses
// (ts/backends/wasm-split.ts), each variant called a few times in a row per round so its workers are awake,
// rounds alternating the variants. Prints the median per variant and the median over rounds of 1 thread's
// round median over the variant's: how well the split itself scales, apart from the wake-ups and phases that
// the suites' interleaved rounds also catch. f32 weights, SwiGLU, a one-expert plan of M rows.
// Usage: node bench/split.mjs [K,N,M ...]   (default 1024,512,64 1024,512,512 2048,1408,64 2048,1408,512)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBenchArtifacts, distDir } from './lib/build.mjs';

const ROUNDS = 9;
const CALLS_PER_ROUND = 3;
const shapes = (process.argv.length > 2 ? process.argv.slice(2) : ['1024,512,64', '1024,512,512', '2048,1408,64', '2048,1408,512'])
  .map((s) => s.split(',').map(Number));

const { internals } = await buildBenchArtifacts();
const I = await import(pathToFileURL(internals).href);
const dist = await distDir();
const one = await WebAssembly.compile(readFileSync(join(dist, 'switchyard-simd.wasm')));
const shared = await WebAssembly.compile(readFileSync(join(dist, 'switchyard-simd-threads.wasm')));
const threaded = (columns) => I.createWasmBackend(shared, { provider: I.nodeThreadProvider(async () => shared), threads: 2, columns });
const backends = [['1 thread', await I.createWasmBackend(one)], ['2, rows', await threaded('never')], ['2, columns', await threaded('always')], ['2, auto', await threaded('auto')]];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

for (const [K, N, M] of shapes) {
  const random = I.rng(0x5b17 + K + M);
  const weights = { nExpert: 1, dModel: K, dFF: N, gate: I.normal(random, N * K, 1 / Math.sqrt(K)), up: I.normal(random, N * K, 1 / Math.sqrt(K)), down: I.normal(random, K * N, 1 / Math.sqrt(N)) };
  const a = I.normal(random, M * K);
  const rows = Int32Array.from({ length: M }, (_, r) => r);
  const plan = { offsets: Int32Array.of(0, M), rows, weights: new Float32Array(M).fill(1), slots: rows };
  const runs = backends.map(([name, backend]) => ({ name, backend, experts: backend.prepareExperts(weights), rounds: [] }));
  for (const r of runs) if ((await r.backend.threadsReady()) !== (r.name === '1 thread' ? 1 : 2)) throw new Error(`${r.name}: workers did not start`);
  const want = new Uint32Array(runs[0].backend.runExperts(runs[0].experts, a, M, plan).buffer);
  for (const r of runs.slice(1)) {
    if (!new Uint32Array(r.backend.runExperts(r.experts, a, M, plan).buffer).every((x, i) => x === want[i])) throw new Error(`${r.name}: output differs from 1 thread`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runs) {
      const t = [];
      for (let c = 0; c < CALLS_PER_ROUND; c++) {
        const t0 = performance.now();
        r.backend.runExperts(r.experts, a, M, plan);
        t.push(performance.now() - t0);
      }
      r.rounds.push(median(t));
    }
  }
  for (const r of runs) {
    const speedup = median(runs[0].rounds.map((base, i) => base / r.rounds[i]));
    console.log(`K${K} N${N} M${M}  ${r.name.padEnd(11)} ${median(r.rounds).toFixed(2).padStart(8)} ms  ${speedup.toFixed(2)}× 1 thread`);
    r.experts.destroy();
  }
}
process.exit(0);
