#!/usr/bin/env node
// switchyard benchmarks (issue #5): each suite measures switchyard beside its peers in the same process,
// prints a table per suite and saves every row as JSON under bench/results/<timestamp>.json.
//   node bench/run.mjs [--suite gemm|moe|router|webgpu|load]... [--quick] [--relaxed] [--no-save]
//     --suite    repeatable or comma-separated; default: all five
//     --quick    fewer shapes and ~120 ms per measurement (instead of ~400 ms)
//     --relaxed  re-runs itself under `node --experimental-wasm-relaxed-simd` (Node 20 lacks relaxed SIMD
//                by default): switchyard then takes its relaxed-SIMD (FMA) build
// `npm run bench` builds dist/ first; run `node scripts/build.mjs --no-types` for a quick rebuild.
// SWITCHYARD_DIST=<dir> takes the bundle from another directory (a clean worktree while dist/ is rebuilt).
import { spawnSync } from 'node:child_process';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBenchArtifacts, distDir, root } from './lib/build.mjs';
import { probeBandwidth } from './lib/bandwidth.mjs';
import { probeContention } from './lib/contention.mjs';
import { BUDGETS } from './lib/measure.mjs';
import { printTable, ratios, throughput } from './lib/table.mjs';
import { versionOf } from './lib/peers.mjs';
import { gemmSuite } from './suites/gemm.mjs';
import { moeSuite } from './suites/moe.mjs';
import { routerSuite } from './suites/router.mjs';
import { webgpuSuite } from './suites/webgpu.mjs';
import { loadSuite } from './suites/load.mjs';

const SUITES = { gemm: gemmSuite, moe: moeSuite, router: routerSuite, webgpu: webgpuSuite, load: loadSuite };
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

function parseArgs(argv) {
  const opts = { suites: [], quick: false, relaxed: false, save: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--relaxed') opts.relaxed = true;
    else if (a === '--no-save') opts.save = false;
    else if (a === '--suite' || a.startsWith('--suite=')) {
      const v = a === '--suite' ? argv[++i] : a.slice('--suite='.length);
      for (const s of (v ?? '').split(',')) {
        if (!(s in SUITES)) throw new Error(`--suite: expected one of ${Object.keys(SUITES).join('|')}, received '${s}'`);
        opts.suites.push(s);
      }
    } else throw new Error(`unknown argument '${a}' (expected --suite NAME, --quick, --relaxed, --no-save)`);
  }
  if (opts.suites.length === 0) opts.suites = Object.keys(SUITES);
  return opts;
}

/**
 * Compiles switchyard's WASM build the library itself would pick here (relaxed when the engine validates
 * it), and its shared-memory twin (threadsModule) for the 2-thread rows.
 */
async function switchyardWasm(dir) {
  for (const [variant, file] of [['relaxed-simd', 'switchyard-relaxed'], ['simd128', 'switchyard-simd']]) {
    const bytes = await readFile(join(dir, `${file}.wasm`));
    if (WebAssembly.validate(bytes)) {
      return { variant, module: await WebAssembly.compile(bytes), threadsModule: await WebAssembly.compile(await readFile(join(dir, `${file}-threads.wasm`))) };
    }
  }
  throw new Error('neither dist/switchyard-relaxed.wasm nor dist/switchyard-simd.wasm validates on this engine');
}

function gitCommit() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** Rows of one case together, cases in the order first measured. */
function byCase(rows) {
  const order = [...new Set(rows.map((r) => r.case))];
  return order.flatMap((c) => rows.filter((r) => r.case === c));
}

async function main() {
  const argv = process.argv.slice(2);
  const opts = parseArgs(argv);
  if (opts.relaxed && !process.execArgv.includes(RELAXED_FLAG)) {
    const r = spawnSync(process.execPath, [RELAXED_FLAG, ...process.execArgv, process.argv[1], ...argv], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  const started = new Date();
  const { internals, gemm, stream } = await buildBenchArtifacts();
  const dir = await distDir();
  const dist = await import(pathToFileURL(join(dir, 'switchyard.node.js')).href);
  const ctx = {
    quick: opts.quick,
    budget: opts.quick ? BUDGETS.quick : BUDGETS.full,
    internals: await import(pathToFileURL(internals).href),
    dist,
    gemmWasm: gemm,
    switchyardWasm: await switchyardWasm(dir),
  };
  const env = {
    date: started.toISOString(),
    commit: gitCommit(),
    dist: dir,
    node: process.version,
    v8: process.versions.v8,
    execArgv: process.execArgv,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavgAtStart: loadavg(),
    switchyardWasm: ctx.switchyardWasm.variant,
    mode: opts.quick ? 'quick' : 'full',
    budget: ctx.budget,
    peers: Object.fromEntries(['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'webgpu', 'tinybench']
      .map((p) => [p, versionOf(p)])),
  };
  console.log(`switchyard bench · ${env.date} · ${env.commit} · node ${env.node} · ${env.cpu} × ${env.cores} · load ${env.loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`wasm build: ${env.switchyardWasm}${env.switchyardWasm === 'simd128' ? ' (pass --relaxed for the FMA build)' : ''} · mode ${env.mode}`);
  env.contention = await probeContention(gemm.simd128);
  const { alone, beside, other, together } = env.contention;
  console.log(`core probe: bare kernel ${alone.toFixed(1)} GFLOP/s alone; beside the same kernel on the other core ${beside.toFixed(1)} `
    + `here + ${other.toFixed(1)} there = ${(together / alone).toFixed(2)}× (FP-bound runs on 2 threads stay under about that over 1)`);
  env.bandwidth = await probeBandwidth(stream);
  const { oneThread, twoThreads } = env.bandwidth;
  console.log(`memory probe: streaming from DRAM ${oneThread.toFixed(1)} GB/s on 1 thread, ${twoThreads.toFixed(1)} on 2 `
    + `(${(twoThreads / oneThread).toFixed(2)}×: memory-bound runs, such as decode, on 2 threads stay under about that over 1)`);

  const results = [];
  const notes = [];
  for (const suite of opts.suites) {
    const rows = [];
    const add = (row) => rows.push({ suite, ...row });
    const skip = (what, reason) => {
      const msg = `${what}: not measured — ${reason instanceof Error ? reason.message.split('\n')[0] : reason}`;
      notes.push({ suite, note: msg });
      console.log(`  [${suite}] ${msg}`);
    };
    const t0 = performance.now();
    try {
      await SUITES[suite]({ ...ctx, add, skip });
    } catch (e) {
      skip(`suite ${suite}`, e);
      if (process.env.BENCH_DEBUG) console.error(e);
    }
    const ordered = byCase(rows);
    printTable(`${suite} (${((performance.now() - t0) / 1000).toFixed(1)} s)`, ordered);
    for (const r of ordered) results.push({ ...r, throughput: throughput(r), ratios: ratios(ordered, r) });
  }
  for (const n of notes) console.log(`note [${n.suite}] ${n.note}`);

  if (opts.save) {
    const dir = join(root, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify({ env, notes, results }, null, 2)}\n`);
    console.log(`\nsaved ${file}`);
  }
}

// Exit explicitly: a Dawn instance (webgpu suite) or a peer's pending work can keep the event loop alive.
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
