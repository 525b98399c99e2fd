// createMoE waits for a threaded path's workers to start (ts/api/create-moe.ts), at most a bounded time:
// the first forward of a block made with options.threads runs on all its threads, and a worker that never
// answers delays the path's start once, never a forward nor every later createMoE.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createWasmBackend } from '../../ts/backends/wasm.js';
import type { ThreadProvider } from '../../ts/runtime/providers.js';
import { normal, rng } from '../cases/rng.js';
import { planWithCounts, randomExperts } from './wasm-experts-cases.js';
// The Node entry registers the WASM loader and the worker_threads provider, as the bundle does.
import * as api from '../../ts/entry/node.js';

const compile = (file: string) => WebAssembly.compile(readFileSync(new URL(`../../build/wasm/${file}`, import.meta.url)));
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
type ThreadStats = { active: number; threadedCalls: number; threadedPackJobs: number };
const threadStats = (moe: object) => (moe as { threadStats?: ThreadStats }).threadStats;

/** Workers that start and then never say anything: a worker script blocked or lost by its runtime. */
const silentProvider: ThreadProvider = {
  loadModule: () => Promise.reject(new Error('not used: the test passes the module')),
  spawn: () => ({ postMessage() {}, onMessage() {}, onError() {}, terminate() {} }),
};

describe('wasm threads at createMoE', () => {
  it('runs the first forward of a block with options.threads 2 on both threads', async () => {
    const r = rng(81);
    const [E, d, f, T] = [4, 48, 64, 64];
    const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' as const } };
    const weights = {
      'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d, 0.2),
      'experts.up': normal(r, E * f * d, 0.2), 'experts.down': normal(r, E * d * f, 0.2),
    };
    const hidden = normal(r, T * d);
    const one = await api.createMoE(config, weights, { backend: 'wasm' });
    const two = await api.createMoE(config, weights, { backend: 'wasm', threads: 2 });
    try {
      const got = (await two.forward(hidden, { tokens: T })).output;
      // This file's module state is its own (vitest isolates files): the path's counts start here. The
      // workers started before the weights were packed, and packed them (one job: one batch of chunks).
      expect(threadStats(two)).toEqual({ active: 2, threadedCalls: 1, threadedPackJobs: 1 });
      expect(bits(got)).toEqual(bits((await one.forward(hidden, { tokens: T })).output));
    } finally {
      one.destroy();
      two.destroy();
    }
  });

  it('stops waiting for workers that never start, once, and runs on the calling thread meanwhile', async () => {
    const [single, threaded] = await Promise.all([
      compile('switchyard-simd.wasm').then((m) => createWasmBackend(m)),
      compile('switchyard-simd-threads.wasm').then((m) => createWasmBackend(m, { provider: silentProvider, threads: 2 })),
    ]);
    const w = randomExperts(82, 'swiglu', 3, 40, 56, false);
    const a = single.prepareExperts(w);
    const b = threaded.prepareExperts(w);
    try {
      await threaded.startThreads(20);
      // The deadline of this start-up has passed: a later wait, however long it may be, returns at once.
      const later = await Promise.race([
        threaded.startThreads(600_000).then(() => 'returned'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000)),
      ]);
      expect(later).toBe('returned');
      expect(threaded.activeThreads).toBe(1);
      const plan = planWithCounts(40, [40, 20, 20], 83);
      const hidden = normal(rng(84), 40 * 40);
      expect(bits(threaded.runExperts(b, hidden, 40, plan))).toEqual(bits(single.runExperts(a, hidden, 40, plan)));
      expect(threaded.threadedCalls).toBe(0);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
