// options.threads on the wasm path: the experts' work split over worker threads sharing one memory
// (ts/backends/wasm-threads.ts). The output must not depend on the thread count at all — compared bit
// for bit with one thread — and must agree with the reference oracle; invalid values are refused; a
// runtime without SharedArrayBuffer or workers runs on 1 thread and says so; destroy stops the workers;
// a worker that fails surfaces as a SwitchyardError. No timings are asserted here (see bench/).
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import { ITEM_DOWN, ITEM_GATE_UP, ITEM_ROWS, ITEM_WORDS, splitWork } from '../../ts/backends/wasm-split.js';
import { wasmPath } from '../../ts/api/paths.js';
import { getThreadProvider, setThreadProvider, type ThreadProvider, type WasmBuild } from '../../ts/runtime/providers.js';
import { threadSupport } from '../../ts/runtime/threads.js';
import type { Activation, DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { planWithCounts, randomExperts, relError, seededSwigluBlock } from './wasm-experts-cases.js';
// The Node entry registers the WASM loader and the worker_threads provider, as the bundle does.
import * as api from '../../ts/entry/node.js';
import { buildsUnderTest } from './wasm-builds.js';

/**
 * Against the oracle: f32 as wasm-experts.test.ts (1e-5 of ‖·‖∞); f16 and int8 weights against the f32
 * oracle within the bounds wasm-experts-dtype.test.ts documents for the formats.
 */
const REL_TOL = { f32: 1e-5, f16: 2e-3, int8: 4e-2 } as const;
type Dtype = keyof typeof REL_TOL;

const FILES: Record<WasmBuild, [string, string]> = {
  simd128: ['switchyard-simd.wasm', 'switchyard-simd-threads.wasm'],
  'relaxed-simd': ['switchyard-relaxed.wasm', 'switchyard-relaxed-threads.wasm'],
};
const builds: WasmBuild[] = buildsUnderTest();
const compile = (file: string) => WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));

function provider(): ThreadProvider {
  const p = getThreadProvider();
  if (!p) throw new Error('the Node entry registered no thread provider');
  return p;
}

/** A routed plan: softmax top-k over random logits, so experts get uneven row counts. */
function routedPlan(seed: number, nToken: number, nExpert: number, k: number, skew: number): DispatchPlan {
  const logits = normal(rng(seed), nToken * nExpert);
  // Skew: expert 0 gets most tokens, so one expert has many rows and is split across items.
  for (let t = 0; t < nToken; t++) logits[t * nExpert] += skew;
  const r = referenceBackend.topKSoftmax({ logits, nToken, nExpert, nExpertUsed: k, normalize: true, scale: 1 });
  return referenceBackend.buildPlan(r.indices, r.weights, nToken, k, nExpert);
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.each(builds)('wasm threads, %s build', (build) => {
  let one: Promise<WasmBackend> | undefined;
  let two: Promise<WasmBackend> | undefined;
  const single = () => (one ??= compile(FILES[build][0]).then((m) => createWasmBackend(m)));
  const threaded = () => (two ??= compile(FILES[build][1]).then((m) => createWasmBackend(m, { provider: provider(), threads: 2 })));

  const SHAPES: { T: number; E: number; k: number; d: number; f: number; act: Activation; skew: number }[] = [
    { T: 1, E: 6, k: 2, d: 37, f: 45, act: 'swiglu', skew: 0 },
    { T: 7, E: 5, k: 3, d: 67, f: 100, act: 'gelu', skew: 0 },
    { T: 64, E: 8, k: 2, d: 45, f: 70, act: 'swiglu-oai', skew: 0 },
    { T: 257, E: 6, k: 2, d: 33, f: 57, act: 'swiglu', skew: 4 },
    { T: 257, E: 16, k: 4, d: 24, f: 40, act: 'relu', skew: 0 },
  ];

  it.each(['f32', 'f16', 'int8'] as Dtype[])('%s weights: threads = 2 equals threads = 1 bit for bit, and the oracle within tolerance', async (dtype) => {
    const [a, b] = await Promise.all([single(), threaded()]);
    let seed = 500 + 100 * ['f32', 'f16', 'int8'].indexOf(dtype);
    for (const s of SHAPES) {
      seed++;
      const what = `${dtype} T=${s.T} E=${s.E} k=${s.k} d=${s.d} dFF=${s.f} ${s.act} (seed ${seed})`;
      const w: ExpertWeights = randomExperts(seed, s.act, s.E, s.d, s.f, seed % 2 === 0);
      const plan = routedPlan(seed, s.T, s.E, s.k, s.skew);
      const hidden = normal(rng(seed + 7), s.T * s.d);
      const ea = a.prepareExperts(w, dtype);
      const eb = b.prepareExperts(w, dtype);
      expect(await b.threadsReady(), 'workers started').toBe(2);
      const calls = b.threadedCalls;
      const want = a.runExperts(ea, hidden, s.T, plan);
      const got = b.runExperts(eb, hidden, s.T, plan);
      // Twice: the second call reuses the scratch and the workers of the first.
      const again = b.runExperts(eb, hidden, s.T, plan);
      expect(b.threadedCalls, `${what}: the threaded path ran`).toBe(calls + 2);
      expect(bits(got), what).toEqual(bits(want));
      expect(bits(again), what).toEqual(bits(want));
      const oracle = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, s.T, plan);
      const err = relError(got, oracle);
      expect(err, `${what}: relative error ${err.toExponential(2)} vs the oracle`).toBeLessThanOrEqual(REL_TOL[dtype]);
      ea.destroy();
      eb.destroy();
    }
  });
});

describe.each(builds)('wasm threads, column split, %s build', (build) => {
  // columns: 'always' splits every expert by panels (wasm-split.ts): gate/up panels in phase 1 into one
  // shared h, down panels in phase 2. Shapes whose panels are not multiples of the 4-panel groups
  // (dFF 150 gated: 38 gate/up panels; d 75: 10 down panels), row counts around the tile edges,
  // the single row (T = 1, 4n + 1 rows), one expert and several, and 3 threads (other panel ranges).
  let one: Promise<WasmBackend> | undefined;
  const threaded = new Map<string, Promise<WasmBackend>>();
  const single = () => (one ??= compile(FILES[build][0]).then((m) => createWasmBackend(m)));
  const columns = (threads: number) => {
    const key = String(threads);
    if (!threaded.has(key)) threaded.set(key, compile(FILES[build][1]).then((m) => createWasmBackend(m, { provider: provider(), threads, columns: 'always' })));
    return threaded.get(key)!;
  };

  const CASES: { dtype: Dtype; act: Activation; bias: boolean; d: number; f: number; counts: number[]; threads?: number; scale?: number }[] = [
    { dtype: 'f32', act: 'swiglu', bias: true, d: 75, f: 150, counts: [1] },
    { dtype: 'f32', act: 'gelu', bias: false, d: 75, f: 150, counts: [7] },
    { dtype: 'f32', act: 'geglu', bias: false, d: 64, f: 128, counts: [0, 13, 2, 4] },
    { dtype: 'f32', act: 'relu', bias: true, d: 70, f: 130, counts: [37, 1], threads: 3 },
    { dtype: 'f16', act: 'geglu', bias: true, d: 70, f: 130, counts: [5, 0, 13, 2] },
    { dtype: 'f16', act: 'gelu', bias: false, d: 75, f: 150, counts: [1] },
    // Two and three rows: pair2x16 (two panels at a time) and tile3x8 within each thread's panel range.
    { dtype: 'f16', act: 'relu', bias: true, d: 75, f: 150, counts: [2, 3], threads: 3 },
    // Activations too large to fold F16_SCALE into (weights.ts foldScale): the per-weight multiply.
    { dtype: 'f16', act: 'swiglu', bias: false, d: 75, f: 150, counts: [6, 9], scale: 5e4 },
    { dtype: 'f16', act: 'swiglu-oai', bias: true, d: 75, f: 150, counts: [3, 33], threads: 3 },
    { dtype: 'int8', act: 'relu', bias: true, d: 75, f: 150, counts: [9, 6] },
    { dtype: 'int8', act: 'swiglu', bias: false, d: 75, f: 150, counts: [1, 3, 4] },
    { dtype: 'int8', act: 'gelu', bias: false, d: 100, f: 200, counts: [1] },
    { dtype: 'int8', act: 'geglu', bias: true, d: 48, f: 96, counts: [17], threads: 3 },
  ];

  it.each(CASES.map((c, i) => [i, c] as const))('case %i: columns on 2 or 3 threads equal threads = 1 bit for bit', async (i, c) => {
    const seed = 900 + i;
    const E = c.counts.length;
    const threads = c.threads ?? 2;
    const what = `${c.dtype} ${c.act}${c.bias ? ' bias' : ''} d=${c.d} dFF=${c.f} rows ${c.counts.join(',')} threads ${threads} (seed ${seed})`;
    const [a, b] = await Promise.all([single(), columns(threads)]);
    const w = randomExperts(seed, c.act, E, c.d, c.f, c.bias);
    const T = Math.max(...c.counts, 1) + 2;
    const plan = planWithCounts(T, c.counts, seed);
    const hidden = normal(rng(seed + 7), T * c.d, c.scale ?? 1);
    const ea = a.prepareExperts(w, c.dtype);
    const eb = b.prepareExperts(w, c.dtype);
    expect(await b.threadsReady(), 'workers started').toBe(threads);
    const [calls, splits] = [b.threadedCalls, b.columnSplits];
    const want = a.runExperts(ea, hidden, T, plan);
    const got = b.runExperts(eb, hidden, T, plan);
    const again = b.runExperts(eb, hidden, T, plan);
    expect(b.threadedCalls, `${what}: the threaded path ran`).toBe(calls + 2);
    expect(b.columnSplits, `${what}: every expert with rows split by columns`).toBe(splits + 2 * c.counts.filter((n) => n > 0).length);
    expect(bits(got), what).toEqual(bits(want));
    expect(bits(again), what).toEqual(bits(want));
    const oracle = referenceBackend.runExperts(referenceBackend.prepareExperts(w), hidden, T, plan);
    const err = relError(got, oracle);
    expect(err, `${what}: relative error ${err.toExponential(2)} vs the oracle`).toBeLessThanOrEqual(REL_TOL[c.dtype]);
    ea.destroy();
    eb.destroy();
  });

  it('columns: \'never\' and \'auto\' give the same bits as \'always\' on a routed plan', async () => {
    const a = await single();
    const [never, auto] = await Promise.all((['never', 'auto'] as const).map(async (policy) =>
      createWasmBackend(await compile(FILES[build][1]), { provider: provider(), threads: 2, columns: policy })));
    const b = await columns(2);
    const w = randomExperts(77, 'swiglu', 6, 45, 70, true);
    const plan = routedPlan(77, 100, 6, 2, 2);
    const hidden = normal(rng(78), 100 * 45);
    const want = a.runExperts(a.prepareExperts(w), hidden, 100, plan);
    for (const backend of [never, auto, b]) {
      const e = backend.prepareExperts(w);
      expect(await backend.threadsReady()).toBe(2);
      expect(bits(backend.runExperts(e, hidden, 100, plan))).toEqual(bits(want));
      e.destroy();
    }
  });
});

describe('splitWork', () => {
  const shape = { dModelK: 64, gateUpPanels: 37, dFFPad: 148, downPanels: 8 };

  it('cuts experts on multiples of 4 rows from their first row, covering every row once', () => {
    const offsets = Int32Array.of(0, 0, 3, 300, 301, 1000);
    for (const nThread of [2, 3, 8]) {
      const { phases, nItem, maxRows, columns } = splitWork(offsets, 5, nThread, shape, 'never');
      expect(columns).toEqual([]);
      expect(phases[1].nItem).toBe(0);
      expect(nItem).toBe(phases[0].nItem);
      const seen = new Int32Array(1000);
      for (let i = 0; i < nItem; i++) {
        const [kind, e, r0, r1] = phases[0].items.subarray(ITEM_WORDS * i, ITEM_WORDS * i + 4);
        expect(kind).toBe(ITEM_ROWS);
        expect((r0 - offsets[e]) % 4).toBe(0);
        expect(r0 >= offsets[e] && r1 <= offsets[e + 1] && r1 > r0).toBe(true);
        expect(r1 - r0).toBeLessThanOrEqual(maxRows);
        for (let r = r0; r < r1; r++) seen[r]++;
      }
      expect([...seen].every((n) => n === 1)).toBe(true);
    }
  });

  it('cuts a row item in two where the threads would otherwise end far apart (few items)', () => {
    const rowsOf = (offsets: number[], nThread: number) => {
      const { phases } = splitWork(Int32Array.from(offsets), offsets.length - 1, nThread, shape, 'never');
      const out: number[] = [];
      for (let i = 0; i < phases[0].nItem; i++) {
        const [, e, r0, r1] = phases[0].items.subarray(ITEM_WORDS * i, ITEM_WORDS * i + 4);
        expect((r0 - offsets[e]) % 4).toBe(0);
        out.push(r1 - r0);
      }
      return out;
    };
    // 96 rows: three items of 32 would leave one thread two of them (1.5x an even share); 32, 32, 16, 16 is even.
    expect(rowsOf([0, 96], 2)).toEqual([32, 32, 16, 16]);
    expect(rowsOf([0, 32, 64, 96], 2)).toEqual([32, 32, 16, 16]);
    // Even already: left as they are.
    expect(rowsOf([0, 96], 3)).toEqual([32, 32, 32]);
    expect(rowsOf([0, 64], 2)).toEqual([32, 32]);
    expect(rowsOf(Array.from({ length: 9 }, (_, e) => 32 * e), 2)).toEqual(new Array(8).fill(32));
    // 160 rows: five items of 32 end 96 | 64; with one of them cut, 80 | 80.
    expect(rowsOf([0, 160], 2)).toEqual([32, 32, 32, 32, 16, 16]);
    // Nothing left to cut (pieces would go below 16 rows): items of 20, 20 and 8 rows stay, and so do 102
    // rows' 28, 28, 28 and 18 (56 | 46; a cut on a multiple of 4 rows would leave 16 and 12).
    expect(rowsOf([0, 20, 40, 48], 2)).toEqual([20, 20, 8]);
    expect(rowsOf([0, 102], 2)).toEqual([28, 28, 28, 18]);
  });

  it('splits experts by panels: gate/up in phase 1, down in phase 2, each panel once, ranges on multiples of 4', () => {
    const offsets = Int32Array.of(0, 0, 3, 300, 301, 1000);
    for (const nThread of [2, 3, 8]) {
      const { phases, maxRows, columns, columnRows } = splitWork(offsets, 5, nThread, shape, 'always');
      expect(columns).toEqual([{ expert: 1, rows: 3 }, { expert: 2, rows: 297 }, { expert: 3, rows: 1 }, { expert: 4, rows: 699 }]);
      expect(columnRows).toBe(699);
      expect(maxRows).toBe(0);
      const panels = new Map<string, number[]>();
      for (const [p, phase] of phases.entries()) {
        for (let i = 0; i < phase.nItem; i++) {
          const [kind, e, r0, r1, a, b, c] = phase.items.subarray(ITEM_WORDS * i, ITEM_WORDS * (i + 1));
          expect(kind).not.toBe(ITEM_ROWS);
          expect(kind).toBe(p === 0 ? ITEM_GATE_UP : ITEM_DOWN);
          expect([r0, r1]).toEqual([offsets[e], offsets[e + 1]]);
          expect(columns[c].expert).toBe(e);
          const n = kind === ITEM_GATE_UP ? shape.gateUpPanels : shape.downPanels;
          expect(a % 4).toBe(0);
          expect(b === n || b % 4 === 0).toBe(true);
          const seen = panels.get(`${kind} ${e}`) ?? new Array<number>(n).fill(0);
          for (let q = a; q < b; q++) seen[q]++;
          panels.set(`${kind} ${e}`, seen);
        }
      }
      expect(panels.size).toBe(8);
      for (const seen of panels.values()) expect(seen.every((n) => n === 1)).toBe(true);
    }
  });

  it('auto: columns where row items would be small or too few for the threads, and the expert is large enough', () => {
    // One expert of K 2048, dFF 1408 (gated): 352 gate/up panels, 256 down panels.
    const big = { dModelK: 2048, gateUpPanels: 352, dFFPad: 1408, downPanels: 256 };
    const cols = (offsets: number[], nThread = 2, s = big) => splitWork(Int32Array.from(offsets), offsets.length - 1, nThread, s).columns.length;
    expect(cols([0, 1])).toBe(1); // one item for two threads
    expect(cols([0, 48])).toBe(1); // two row items of 24 rows
    expect(cols([0, 64])).toBe(0); // two row items of 32 rows
    expect(cols([0, 512])).toBe(0);
    expect(cols([0, 1, 2])).toBe(0); // an item per thread already
    expect(cols([0, 1, 2], 3)).toBe(2);
    expect(cols([0, 1], 2, shape)).toBe(0); // too little work to split
  });
});

/** A block through the public API, for the option's own checks. */
const block = (seed: number) => seededSwigluBlock(seed, { E: 4, d: 20, f: 28, T: 33 });

describe('options.threads', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('createMoE with threads: 2 gives the output of threads: 1, bit for bit', async () => {
    const { config, weights, hidden, T } = block(41);
    const m1 = await api.createMoE(config, weights, { backend: 'wasm' });
    const m2 = await api.createMoE(config, weights, { backend: 'wasm', threads: 2 });
    const backend = await wasmPath({ threads: 2 });
    expect(backend.threads).toBe(2);
    expect(await backend.threadsReady()).toBe(2);
    const [o1, o2] = [(await m1.forward(hidden, { tokens: T })).output, (await m2.forward(hidden, { tokens: T })).output];
    expect(bits(o2)).toEqual(bits(o1));
    m1.destroy();
    m2.destroy();
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity, 65, 1e9, '2', null])('threads = %s is refused with SwitchyardError(config) naming options.threads', async (threads) => {
    const { config, weights } = block(42);
    for (const backend of ['wasm', 'reference'] as const) {
      const err = await api.createMoE(config, weights, { backend, threads: threads as number }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(api.SwitchyardError);
      expect((err as api.SwitchyardError).code).toBe('config');
      expect((err as api.SwitchyardError).argument).toBe('options.threads');
    }
  });

  it('without SharedArrayBuffer, threads: 2 runs on 1 thread and says why', async () => {
    expect(threadSupport({}).reason).toMatch(/SharedArrayBuffer/);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    vi.stubGlobal('SharedArrayBuffer', undefined);
    const { config, weights, hidden, T } = block(43);
    const moe = await api.createMoE(config, weights, { backend: 'wasm', threads: 2 });
    const backend = await wasmPath({ threads: 2 });
    vi.unstubAllGlobals();
    expect(backend.threads).toBe(1);
    expect(warn.mock.calls.some(([m]) => /threads = 2 runs on 1 thread: SharedArrayBuffer/.test(String(m)))).toBe(true);
    const ref = await api.createMoE(config, weights, { backend: 'wasm' });
    expect(bits((await moe.forward(hidden, { tokens: T })).output)).toEqual(bits((await ref.forward(hidden, { tokens: T })).output));
    moe.destroy();
    ref.destroy();
    warn.mockRestore();
  });

  it('a runtime that cannot start workers (workerd) runs on 1 thread', async () => {
    const saved = getThreadProvider();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    setThreadProvider(undefined);
    try {
      expect(threadSupport().reason).toMatch(/cannot start workers/);
      expect((await wasmPath({ threads: 3 })).threads).toBe(1);
    } finally {
      setThreadProvider(saved);
      warn.mockRestore();
    }
  });
});

describe('worker lifetime', () => {
  /** The Node provider, recording terminate() calls and optionally rewriting each worker's start message. */
  function recording(rewrite?: string) {
    const inner = provider();
    const stats = { spawned: 0, terminated: 0 };
    const p: ThreadProvider = {
      loadModule: inner.loadModule,
      spawn(source) {
        stats.spawned++;
        const wrapped = rewrite === undefined ? source
          : (port: string) => source(`((p) => ({ postMessage: p.postMessage, onMessage: (f) => p.onMessage((m) => f(${rewrite})) }))(${port})`);
        const h = inner.spawn(wrapped);
        return { ...h, terminate: () => { stats.terminated++; h.terminate(); } };
      },
    };
    return { p, stats };
  }

  it('destroying the last experts terminates the workers; new experts start new ones', async () => {
    const { p, stats } = recording();
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: p, threads: 3 });
    const w = randomExperts(9, 'swiglu', 4, 16, 24, false);
    const e1 = b.prepareExperts(w);
    const e2 = b.prepareExperts(w);
    expect(await b.threadsReady()).toBe(3);
    e1.destroy();
    expect(stats.terminated).toBe(0);
    e2.destroy();
    expect(stats).toEqual({ spawned: 2, terminated: 2 });
    expect(b.activeThreads).toBe(1);
    const e3 = b.prepareExperts(w);
    expect(await b.threadsReady()).toBe(3);
    e3.destroy();
    expect(stats).toEqual({ spawned: 4, terminated: 4 });
  });

  it('workers join a caller that never yields to its event loop (their ready flag is in shared memory)', async () => {
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: provider(), threads: 2 });
    const w = randomExperts(10, 'swiglu', 8, 16, 24, false);
    const experts = b.prepareExperts(w);
    // No await from here: a 'ready' message could not be received, only the shared flag can be seen.
    const until = Date.now() + 10_000;
    while (b.activeThreads < 2 && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    expect(b.activeThreads).toBe(2);
    const calls = b.threadedCalls;
    b.runExperts(experts, normal(rng(3), 40 * 16), 40, routedPlan(4, 40, 8, 2, 0));
    expect(b.threadedCalls).toBe(calls + 1);
    experts.destroy();
  });

  it('a worker that starts after its pool stopped returns instead of sleeping in Atomics.wait', async () => {
    // Deno hands a terminated worker its start message anyway, and cannot end a worker blocked in
    // Atomics.wait: such a worker must see the new epoch and return. Simulated here: terminate() only
    // releases the held start message, and the worker's port answers 'ping' — which it can only do when
    // its thread is not blocked.
    const inner = provider();
    const workers: { handle: ReturnType<ThreadProvider['spawn']>; pong: Promise<void> }[] = [];
    const p: ThreadProvider = {
      loadModule: inner.loadModule,
      spawn(source) {
        const handle = inner.spawn((port: string) => source(
          `((p) => ({ postMessage: p.postMessage, onMessage: (f) => p.onMessage((m) => m === 'ping' ? p.postMessage('pong') : f(m)) }))(${port})`));
        const held: unknown[] = [];
        const pong = new Promise<void>((resolve) => handle.onMessage((m) => { if (m === 'pong') resolve(); }));
        workers.push({ handle, pong });
        return {
          postMessage: (m) => held.push(m),
          onMessage: handle.onMessage,
          onError: handle.onError,
          terminate: () => { for (const m of held.splice(0)) handle.postMessage(m); },
        };
      },
    };
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: p, threads: 3 });
    const experts = b.prepareExperts(randomExperts(17, 'swiglu', 4, 16, 24, false));
    experts.destroy(); // the pool stops before any worker has its start message
    expect(workers).toHaveLength(2);
    try {
      for (const w of workers) {
        await new Promise((resolve) => setTimeout(resolve, 200)); // time to start, and to fall asleep if it would
        w.handle.postMessage('ping');
        const answered = await Promise.race([w.pong.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 5000))]);
        expect(answered, 'the worker answers (it is not blocked)').toBe(true);
      }
    } finally {
      for (const w of workers) w.handle.terminate();
    }
  });

  it('a worker whose view of the memory lags behind a growth brings it up to date (no failure, same bits)', async () => {
    // V8 tells other threads that a shared memory grew by an interrupt, which a worker may not have taken
    // when it starts a job (seen in Deno: a RangeError on the items' view). Here the worker's Memory shows
    // the size it had at start, or at its own last grow() call, whatever the main thread did since.
    const lagging = `((m) => {
      const mem = m.memory;
      const read = Object.getOwnPropertyDescriptor(WebAssembly.Memory.prototype, 'buffer').get;
      let seen = read.call(mem);
      Object.defineProperty(mem, 'buffer', { get: () => seen });
      mem.grow = (pages) => { const old = WebAssembly.Memory.prototype.grow.call(mem, pages); seen = read.call(mem); return old; };
      return m;
    })(m)`;
    const { p } = recording(lagging);
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: p, threads: 2 });
    const a = await createWasmBackend(await compile(FILES.simd128[0]));
    const w = randomExperts(14, 'swiglu', 8, 48, 64, false);
    const [eb, ea] = [b.prepareExperts(w), a.prepareExperts(w)];
    expect(await b.threadsReady()).toBe(2);
    // Each call needs more memory than the one before: the main thread grows it between the jobs.
    for (const T of [64, 600, 2400]) {
      const plan = routedPlan(15 + T, T, 8, 2, 0);
      const hidden = normal(rng(16 + T), T * 48);
      const calls = b.threadedCalls;
      expect(bits(b.runExperts(eb, hidden, T, plan))).toEqual(bits(a.runExperts(ea, hidden, T, plan)));
      expect(b.threadedCalls).toBe(calls + 1);
      expect(b.threads).toBe(2);
    }
    eb.destroy();
    ea.destroy();
  });

  it('a worker that traps mid-job surfaces as SwitchyardError(backend), then the backend runs on 1 thread', async () => {
    // The worker's accumulators moved out of bounds: its first kernel call traps.
    const { p } = recording('({ ...m, acc: 0x7ffffff0 })');
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: p, threads: 2 });
    const a = await createWasmBackend(await compile(FILES.simd128[0]));
    const w = randomExperts(11, 'swiglu', 16, 64, 96, false);
    const eb = b.prepareExperts(w);
    const ea = a.prepareExperts(w);
    expect(await b.threadsReady()).toBe(2);
    const plan = routedPlan(12, 400, 16, 4, 0);
    const hidden = normal(rng(13), 400 * 64);
    let error: unknown;
    // The worker must take at least one item; the main thread might take all of a job's items alone.
    for (let i = 0; i < 50 && error === undefined; i++) {
      try { b.runExperts(eb, hidden, 400, plan); } catch (e) { error = e; }
    }
    expect(error).toBeInstanceOf(api.SwitchyardError);
    expect((error as api.SwitchyardError).code).toBe('backend');
    expect((error as api.SwitchyardError).message).toMatch(/worker/);
    expect(b.threads).toBe(1);
    expect(b.threadsNote).toMatch(/worker/);
    expect(bits(b.runExperts(eb, hidden, 400, plan))).toEqual(bits(a.runExperts(ea, hidden, 400, plan)));
    eb.destroy();
    ea.destroy();
  });
});

describe('worker failure in a column split', () => {
  it('a worker that traps in a first-phase item opens the barrier: SwitchyardError(backend), no hang', async () => {
    const inner = provider();
    // The worker's accumulators moved out of bounds: its first kernel call traps.
    const p: ThreadProvider = {
      loadModule: inner.loadModule,
      spawn: (source) => inner.spawn((port: string) => source(`((p) => ({ postMessage: p.postMessage, onMessage: (f) => p.onMessage((m) => f({ ...m, acc: 0x7ffffff0 })) }))(${port})`)),
    };
    const b = await createWasmBackend(await compile(FILES.simd128[1]), { provider: p, threads: 2, columns: 'always' });
    const a = await createWasmBackend(await compile(FILES.simd128[0]));
    const w = randomExperts(21, 'swiglu', 1, 64, 512, false);
    const [eb, ea] = [b.prepareExperts(w), a.prepareExperts(w)];
    expect(await b.threadsReady()).toBe(2);
    const plan = planWithCounts(40, [40], 22);
    const hidden = normal(rng(23), 40 * 64);
    let error: unknown;
    for (let i = 0; i < 50 && error === undefined; i++) {
      try { b.runExperts(eb, hidden, 40, plan); } catch (e) { error = e; }
    }
    expect(error).toBeInstanceOf(api.SwitchyardError);
    expect((error as api.SwitchyardError).code).toBe('backend');
    expect(b.threads).toBe(1);
    expect(bits(b.runExperts(eb, hidden, 40, plan))).toEqual(bits(a.runExperts(ea, hidden, 40, plan)));
    eb.destroy();
    ea.destroy();
  });
});

describe('process exit', () => {
  it('a Node process whose MoE was never destroyed still exits (workers are unref\'d)', async () => {
    // The Node entry from source, bundled into build/ (so its WASM lookup finds build/wasm/), and a child
    // process that starts the workers and then simply ends.
    const dir = new URL('../../build/threads-exit/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    await esbuild.build({
      stdin: {
        contents: "export * from './ts/entry/node.ts';\nexport { wasmPath } from './ts/api/paths.ts';\n",
        resolveDir: fileURLToPath(new URL('../../', import.meta.url)), loader: 'ts',
      },
      outfile: fileURLToPath(new URL('switchyard.mjs', dir)), bundle: true, format: 'esm', platform: 'node',
      loader: { '.wgsl': 'text' }, external: ['webgpu', 'node:*'], logLevel: 'error',
    });
    writeFileSync(new URL('child.mjs', dir), `
      import { createMoE, wasmPath } from './switchyard.mjs';
      const d = 16, f = 24, E = 4, x = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) / 4);
      const moe = await createMoE({ dModel: d, router: { kind: 'topk', numExperts: E, topK: 2 }, expert: { dFF: f } },
        { 'router.weight': x(E * d), 'experts.gate': x(E * f * d), 'experts.up': x(E * f * d), 'experts.down': x(E * d * f) },
        { backend: 'wasm', threads: 2 });
      const threads = await (await wasmPath({ threads: 2 })).threadsReady();
      await moe.forward(x(40 * d), { tokens: 40 });
      console.log('threads ' + threads);
    `);
    const result = await new Promise<{ code: number | null; out: string; killed: boolean }>((resolve) => {
      const child = execFile(process.execPath, [fileURLToPath(new URL('child.mjs', dir))], { timeout: 20_000 }, (error, out) =>
        resolve({ code: error ? (error as { code?: number }).code ?? null : 0, out, killed: child.killed }));
    });
    expect(result.killed, 'the child was still running after 20 s').toBe(false);
    expect(result.out.trim()).toBe('threads 2');
    expect(result.code).toBe(0);
  });
});
