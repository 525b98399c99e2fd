// options.threads in every lane: a block on 2 threads gives the output of 1 thread bit for bit, and the
// oracle's within the wasm bound. Where a lane can run threads — Node, Deno, a cross-origin-isolated page
// (whose main thread awaits its workers instead of blocking) — the case also requires that the block
// ran on 2 threads from its first forward on (the block's threadStats). Where it cannot (workerd, a page that is not
// isolated) the block runs on 1 thread and warns once; the case checks the output there. Where it can, the
// block's weights must also have been packed on the threads (threadStats.threadedPackJobs).
import { expectExact, expectRelativeToNorm } from './compare.js';
import { denseMoE } from './oracle.js';
import { normal, rng } from './rng.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

/** As random-moe.ts: f32 sums of ≤ 257 terms against the f64 oracle. */
const OUTPUT_BOUND = 1e-5;
/** Forwards compared bit for bit, with pauses between them (the workers sleep after a while idle). */
const FORWARDS = 4;

/** Diagnostics MoEBlock offers beside the MoE contract (ts/api/moe-block.ts). */
type ThreadStats = { active: number; threadedCalls: number; threadedPackJobs: number };
const threadStats = (moe: object): ThreadStats | undefined => (moe as { threadStats?: ThreadStats }).threadStats;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether this lane must run the block on 2 threads: Node, Deno, a cross-origin-isolated page — not
 * workerd, which has no workers for switchyard yet may present itself with a Node-like `process`.
 */
function threadsExpected(): boolean {
  const g = globalThis as {
    crossOriginIsolated?: boolean; Deno?: unknown; navigator?: { userAgent?: string }; process?: { versions?: { node?: string } };
  };
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return false;
  return g.crossOriginIsolated === true || typeof g.Deno === 'object' || typeof g.process?.versions?.node === 'string';
}

interface Shape { seed: number; T: number; d: number; f: number; E: number; k: number }

async function runThreads(s: Shape, ctx: CaseContext): Promise<void> {
  const r = rng(s.seed);
  const m = {
    dModel: s.d, dFF: s.f, nExpert: s.E, k: s.k, normalize: true,
    routerWeight: normal(r, s.E * s.d, 1 / Math.sqrt(s.d)),
    gate: normal(r, s.E * s.f * s.d, 1 / Math.sqrt(s.d)),
    up: normal(r, s.E * s.f * s.d, 1 / Math.sqrt(s.d)),
    down: normal(r, s.E * s.d * s.f, 1 / Math.sqrt(s.f)),
  };
  const hidden = normal(r, s.T * s.d);
  const config = { dModel: s.d, router: { kind: 'topk' as const, numExperts: s.E, topK: s.k, normalize: true }, expert: { dFF: s.f, activation: 'swiglu' as const } };
  const weights = { 'router.weight': m.routerWeight, 'experts.gate': m.gate, 'experts.up': m.up, 'experts.down': m.down };
  const one = await ctx.api.createMoE(config, weights, { backend: 'wasm' });
  const two = await ctx.api.createMoE(config, weights, { backend: 'wasm', threads: 2 });
  try {
    const want = (await one.forward(hidden, { tokens: s.T })).output;
    const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
    // The count is the path's, which blocks with the same thread count share: it rises by one per forward.
    let first = 0;
    for (let i = 0; i < FORWARDS; i++) {
      const got = (await two.forward(hidden, { tokens: s.T })).output;
      expectExact(`output bits, forward ${i} on 2 threads vs 1`, bits(got), bits(want));
      // createMoE waits for the workers to start (ts/api/create-moe.ts), so the first forward already runs on both.
      const stats = threadStats(two);
      if (i === 0) first = stats?.threadedCalls ?? 0;
      if (threadsExpected() && (!stats || stats.active !== 2 || first < 1 || stats.threadedCalls !== first + i)) {
        throw new CaseFailure(`expected this lane to run every forward of the 2-thread block on 2 threads, threadStats after forward ${i}: ${JSON.stringify(stats)}`);
      }
      // createMoE starts the workers before it packs: they pack too (awaited jobs on a page's main thread).
      if (threadsExpected() && (stats?.threadedPackJobs ?? 0) < 1) {
        throw new CaseFailure(`expected this lane to pack the 2-thread block's weights on 2 threads, threadStats: ${JSON.stringify(stats)}`);
      }
      await pause(5);
    }
    const oracle = denseMoE(m, hidden, s.T).output;
    expectRelativeToNorm('output', want, oracle, OUTPUT_BOUND);
    if (two.backend !== 'wasm') throw new CaseFailure(`the 2-thread block runs on ${two.backend}, expected wasm`);
  } finally {
    one.destroy();
    two.destroy();
  }
}

const SHAPES: Shape[] = [
  { seed: 71, T: 257, d: 67, f: 100, E: 8, k: 2 },
  { seed: 72, T: 64, d: 40, f: 52, E: 3, k: 3 },
];

export const threadCases: ConformanceCase[] = SHAPES.map((s) => ({
  name: `threads 2 = threads 1 bit for bit, seed ${s.seed}: T${s.T} d${s.d} f${s.f} E${s.E} k${s.k}`,
  backends: ['wasm'] as const,
  run: (ctx: CaseContext) => runThreads(s, ctx),
}));
