// options.threads on a thread that may not block (a browser window's main thread), simulated in Node:
// the backend is made with `blocking: false`, or Atomics.wait throws on this thread as it does on a page.
// Then forward() awaits the workers (WasmBackend.runExpertsAsync) — by Atomics.waitAsync, or by the
// workers' 'done' messages where an engine lacks it. Checked: the output equals 1 thread's bit for bit;
// overlapping calls on one backend take turns without sharing scratch; destroy() while a call awaits its
// workers neither crashes nor hangs. No timings are asserted here (see bench/).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { referenceBackend } from '../../ts/backends/reference.js';
import { createWasmBackend, type WasmBackend } from '../../ts/backends/wasm.js';
import type { ColumnPolicy } from '../../ts/backends/wasm-split.js';
import { wasmPath } from '../../ts/api/paths.js';
import { getThreadProvider, type ThreadProvider } from '../../ts/runtime/providers.js';
import type { DispatchPlan } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';
import { randomExperts, seededSwigluBlock } from './wasm-experts-cases.js';
import * as api from '../../ts/entry/node.js';

const compile = (file: string) => WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function routedPlan(seed: number, nToken: number, nExpert: number, k: number): DispatchPlan {
  const logits = normal(rng(seed), nToken * nExpert);
  const r = referenceBackend.topKSoftmax({ logits, nToken, nExpert, nExpertUsed: k, normalize: true, scale: 1 });
  return referenceBackend.buildPlan(r.indices, r.weights, nToken, k, nExpert);
}

/** The Node provider, counting the 'done' messages the main thread receives from workers. */
function countingDone(): { provider: ThreadProvider; done: () => number } {
  const inner = getThreadProvider()!;
  let done = 0;
  return {
    done: () => done,
    provider: {
      loadModule: inner.loadModule,
      spawn(source) {
        const h = inner.spawn(source);
        return { ...h, onMessage: (f) => h.onMessage((m) => { if ((m as { type?: string }).type === 'done') done++; f(m); }) };
      },
    },
  };
}

/** A one-thread backend and a 2-thread one that may not block, over the simd128 builds. */
async function backends(threads = 2, provider = getThreadProvider(), columns?: ColumnPolicy): Promise<[WasmBackend, WasmBackend]> {
  if (!provider) throw new Error('the Node entry registered no thread provider');
  return Promise.all([
    compile('switchyard-simd.wasm').then((m) => createWasmBackend(m)),
    compile('switchyard-simd-threads.wasm').then((m) => createWasmBackend(m, { provider, threads, blocking: false, columns })),
  ]);
}

/** Lets queued microtasks run until `done()` holds (a job reached its await), without a macrotask turn. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !done(); i++) await Promise.resolve();
  if (!done()) throw new Error('the condition never held');
}

describe('wasm threads, awaited (a thread that may not block)', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each(['waitAsync', 'messages'] as const)('threads = 2 equals threads = 1 bit for bit (workers awaited by %s)', async (how) => {
    const saved = Atomics.waitAsync;
    if (how === 'messages') (Atomics as { waitAsync?: unknown }).waitAsync = undefined;
    const counting = countingDone();
    try {
      const [a, b] = await backends(2, counting.provider);
      expect(b.blocking).toBe(false);
      for (const [seed, T, E, k, d, f, dtype] of [[1, 257, 8, 2, 33, 57, 'f32'], [2, 64, 5, 3, 40, 52, 'int8'], [3, 7, 4, 2, 24, 40, 'f16']] as const) {
        const w = randomExperts(seed, 'swiglu', E, d, f, true);
        const plan = routedPlan(seed, T, E, k);
        const hidden = normal(rng(seed + 7), T * d);
        const [ea, eb] = [a.prepareExperts(w, dtype), b.prepareExperts(w, dtype)];
        expect(await b.threadsReady()).toBe(2);
        const want = a.runExperts(ea, hidden, T, plan);
        const calls = b.threadedCalls;
        expect(bits(await b.runExpertsAsync(eb, hidden, T, plan)), `seed ${seed}`).toEqual(bits(want));
        expect(b.threadedCalls, `seed ${seed}: the awaited threaded path ran`).toBe(calls + 1);
        // The synchronous call may not block here: it runs on this thread alone, same bits.
        expect(bits(b.runExperts(eb, hidden, T, plan))).toEqual(bits(want));
        expect(b.threadedCalls).toBe(calls + 1);
        ea.destroy();
        eb.destroy();
      }
      // Workers post 'done' only when the job asks for it: when this engine has no Atomics.waitAsync. A job
      // also ends when its shared counter says so, which can be before the last message arrives: wait for it.
      if (how === 'messages') await vi.waitFor(() => expect(counting.done()).toBeGreaterThanOrEqual(3));
      else expect(counting.done()).toBe(0);
    } finally {
      (Atomics as { waitAsync?: unknown }).waitAsync = saved;
    }
  });

  it.each(['waitAsync', 'messages'] as const)('column split: threads = 2 equals threads = 1 bit for bit (the main thread polls the barrier; workers awaited by %s)', async (how) => {
    const saved = Atomics.waitAsync;
    if (how === 'messages') (Atomics as { waitAsync?: unknown }).waitAsync = undefined;
    try {
      const [a, b] = await backends(2, getThreadProvider(), 'always');
      for (const [seed, T, E, k, d, f, dtype] of [[4, 1, 1, 1, 75, 150, 'f32'], [5, 33, 3, 2, 70, 130, 'f16'], [6, 10, 2, 2, 75, 150, 'int8']] as const) {
        const w = randomExperts(seed, 'swiglu', E, d, f, true);
        const plan = routedPlan(seed, T, E, k);
        const hidden = normal(rng(seed + 7), T * d);
        const [ea, eb] = [a.prepareExperts(w, dtype), b.prepareExperts(w, dtype)];
        expect(await b.threadsReady()).toBe(2);
        const [calls, splits] = [b.threadedCalls, b.columnSplits];
        expect(bits(await b.runExpertsAsync(eb, hidden, T, plan)), `seed ${seed}`).toEqual(bits(a.runExperts(ea, hidden, T, plan)));
        expect(b.threadedCalls, `seed ${seed}: the awaited threaded path ran`).toBe(calls + 1);
        expect(b.columnSplits, `seed ${seed}: by columns`).toBeGreaterThan(splits);
        ea.destroy();
        eb.destroy();
      }
    } finally {
      (Atomics as { waitAsync?: unknown }).waitAsync = saved;
    }
  });

  it('overlapping calls take turns; calls made while one awaits (routing, 1-thread runs) do not disturb it', async () => {
    const [a, b] = await backends();
    const jobs = [11, 12, 13, 14, 15].map((seed, i) => {
      const T = 40 + 50 * i, E = 6, d = 28 + i, f = 44;
      const w = randomExperts(seed, 'gelu', E, d, f, false);
      return { T, plan: routedPlan(seed, T, E, 2), hidden: normal(rng(seed), T * d), ea: a.prepareExperts(w), eb: b.prepareExperts(w) };
    });
    expect(await b.threadsReady()).toBe(2);
    const calls = b.threadedCalls;
    const pending = jobs.map((j) => b.runExpertsAsync(j.eb, j.hidden, j.T, j.plan));
    // While the first awaits its workers: the backend's synchronous calls reuse the ordinary scratch.
    await until(() => b.threadedCalls > calls);
    const logits = normal(rng(99), 300 * 6);
    const r = b.topKSoftmax({ logits, nToken: 300, nExpert: 6, nExpertUsed: 2, normalize: true, scale: 1 });
    const plan = b.buildPlan(r.indices, r.weights, 300, 2, 6);
    const j0 = jobs[0];
    const hidden300 = normal(rng(98), 300 * 28);
    expect(bits(b.runExperts(j0.eb, hidden300, 300, plan))).toEqual(bits(a.runExperts(j0.ea, hidden300, 300, plan)));
    const got = await Promise.all(pending);
    jobs.forEach((j, i) => expect(bits(got[i]), `job ${i}`).toEqual(bits(a.runExperts(j.ea, j.hidden, j.T, j.plan))));
    expect(b.threadedCalls).toBe(calls + jobs.length);
    for (const j of jobs) {
      j.ea.destroy();
      j.eb.destroy();
    }
  });

  it('destroy() while a call awaits its workers: that call completes, queued calls reject, nothing hangs', async () => {
    const [a, b] = await backends(3);
    const w = randomExperts(21, 'swiglu', 8, 48, 64, false);
    const [ea, eb] = [a.prepareExperts(w), b.prepareExperts(w)];
    expect(await b.threadsReady()).toBe(3);
    const T = 300;
    const plan = routedPlan(22, T, 8, 2);
    const hidden = normal(rng(23), T * 48);
    const calls = b.threadedCalls;
    const first = b.runExpertsAsync(eb, hidden, T, plan);
    const second = b.runExpertsAsync(eb, hidden, T, plan);
    await until(() => b.threadedCalls > calls);
    eb.destroy();
    // Released once the running call settles: the workers stop then, not under it.
    expect(b.activeThreads).toBe(3);
    expect(bits(await first)).toEqual(bits(a.runExperts(ea, hidden, T, plan)));
    const err = await second.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.SwitchyardError);
    expect((err as api.SwitchyardError).message).toMatch(/destroyed/);
    expect(b.activeThreads).toBe(1);
    // New experts start new workers; the backend runs threaded again.
    const eb2 = b.prepareExperts(w);
    expect(await b.threadsReady()).toBe(3);
    expect(bits(await b.runExpertsAsync(eb2, hidden, T, plan))).toEqual(bits(a.runExperts(ea, hidden, T, plan)));
    eb2.destroy();
    ea.destroy();
  });

  it('workers stopped under an awaiting job (not by destroy): the job ends, correct or with SwitchyardError, never hangs', async () => {
    const [a, b] = await backends(3);
    const w = randomExperts(24, 'swiglu', 8, 48, 64, false);
    const [ea, eb] = [a.prepareExperts(w), b.prepareExperts(w)];
    expect(await b.threadsReady()).toBe(3);
    const plan = routedPlan(25, 300, 8, 2);
    const hidden = normal(rng(26), 300 * 48);
    const calls = b.threadedCalls;
    const pending = b.runExpertsAsync(eb, hidden, 300, plan);
    await until(() => b.threadedCalls > calls);
    (b as unknown as { pool: { terminate(): void } }).pool.terminate();
    const result = await pending.then((r) => bits(r), (e: unknown) => e);
    const want = bits(a.runExperts(ea, hidden, 300, plan));
    if (result instanceof Uint32Array) expect(result).toEqual(want);
    else expect((result as api.SwitchyardError).message).toMatch(/stopped during runExperts/);
    // The same experts start new workers when the next are prepared; meanwhile the backend runs on 1 thread.
    expect(bits(await b.runExpertsAsync(eb, hidden, 300, plan))).toEqual(want);
    ea.destroy();
    eb.destroy();
  });
});

/** A block through the public API. */
const block = (seed: number, T: number) => seededSwigluBlock(seed, { E: 6, d: 24, f: 40, T });

describe('forward() on a thread where Atomics.wait throws (as on a page)', () => {
  afterEach(() => vi.restoreAllMocks());

  function noBlocking() {
    vi.spyOn(Atomics, 'wait').mockImplementation(() => {
      throw new TypeError('Atomics.wait cannot be called in this context');
    });
  }

  it('threads: 2 runs threaded, gives 1 thread\'s bits, and overlapping forwards of two blocks on one backend each get their own', async () => {
    noBlocking();
    const warn = vi.spyOn(console, 'warn');
    const x = block(31, 200);
    const y = block(32, 130);
    const [x1, y1] = await Promise.all([x, y].map((b) => api.createMoE(b.config, b.weights, { backend: 'wasm' })));
    // threads: 4 here only, so this file's backend is fresh and made while Atomics.wait throws.
    const [x4, y4] = await Promise.all([x, y].map((b) => api.createMoE(b.config, b.weights, { backend: 'wasm', threads: 4 })));
    const backend = await wasmPath({ threads: 4 });
    expect(backend.blocking).toBe(false);
    expect(await backend.threadsReady()).toBe(4);
    const want = [await x1.forward(x.hidden, { tokens: x.T }), await y1.forward(y.hidden, { tokens: y.T })].map((r) => bits(r.output));
    const got = await Promise.all([
      x4.forward(x.hidden, { tokens: x.T }), y4.forward(y.hidden, { tokens: y.T }),
      x4.forward(x.hidden, { tokens: x.T }), y4.forward(y.hidden, { tokens: y.T }),
    ]);
    got.forEach((r, i) => expect(bits(r.output), `forward ${i}`).toEqual(want[i % 2]));
    const stats = (x4 as unknown as { threadStats?: { active: number; threadedCalls: number } }).threadStats;
    expect(stats?.active).toBe(4);
    expect(stats?.threadedCalls).toBeGreaterThanOrEqual(4);
    expect(warn.mock.calls.some(([m]) => /runs on 1 thread/.test(String(m)))).toBe(false);
    for (const m of [x1, y1, x4, y4]) m.destroy();
  });

  it('destroy() during pending forwards lets them finish, then frees the block; forward() after it is refused', async () => {
    noBlocking();
    const x = block(33, 256);
    const moe = await api.createMoE(x.config, x.weights, { backend: 'wasm', threads: 4 });
    const ref = await api.createMoE(x.config, x.weights, { backend: 'wasm' });
    const backend = await wasmPath({ threads: 4 });
    await backend.threadsReady();
    const want = bits((await ref.forward(x.hidden, { tokens: x.T })).output);
    // Destroyed while its experts run (awaiting the workers), and while a second call still waits its turn.
    const calls = backend.threadedCalls;
    const running = moe.forward(x.hidden, { tokens: x.T });
    const queued = moe.forward(x.hidden, { tokens: x.T });
    await until(() => backend.threadedCalls > calls);
    moe.destroy();
    await expect(moe.forward(x.hidden, { tokens: x.T })).rejects.toThrow(/after destroy/);
    expect(bits((await running).output)).toEqual(want);
    expect(bits((await queued).output)).toEqual(want);
    // Destroyed before its experts ran at all.
    const again = await api.createMoE(x.config, x.weights, { backend: 'wasm', threads: 4 });
    const early = again.forward(x.hidden, { tokens: x.T });
    again.destroy();
    expect(bits((await early).output)).toEqual(want);
    await expect(again.forward(x.hidden, { tokens: x.T })).rejects.toThrow(/after destroy/);
    ref.destroy();
  });
});
