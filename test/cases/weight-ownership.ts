// createMoE takes its weights at load: a caller that reuses or overwrites its buffers afterwards (a
// loader's scratch, a checkpoint's bytes) must not change what the block computes — on any path, the
// reference included, whose copy is the only thing that keeps it agreeing with the fast paths then.
import { expectExact } from './compare.js';
import { normal, rng } from './rng.js';
import { swigluWeights } from './swiglu-weights.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

const d = 12;
const f = 10;
const E = 4;
const T = 5;

async function run(ctx: CaseContext): Promise<void> {
  const random = rng(31);
  const w: Record<string, Float32Array> = {
    'router.weight': normal(random, E * d, 0.5),
    'router.bias': normal(random, E, 0.1),
    'experts.gate': normal(random, E * f * d, 0.3),
    'experts.up': normal(random, E * f * d, 0.3),
    'experts.down': normal(random, E * d * f, 0.3),
    'experts.gate_bias': normal(random, E * f, 0.1),
    'experts.up_bias': normal(random, E * f, 0.1),
    'experts.down_bias': normal(random, E * d, 0.1),
  };
  const hidden = normal(random, T * d, 1);
  const moe = await ctx.api.createMoE(
    { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu', bias: true } },
    w, { backend: ctx.backend },
  );
  try {
    const before = await moe.forward(hidden, { tokens: T });
    for (const values of Object.values(w)) values.fill(0.25);
    const after = await moe.forward(hidden, { tokens: T });
    if (after.routing.backend !== ctx.backend) throw new CaseFailure(`ran on ${after.routing.backend}, expected ${ctx.backend}`);
    if (after.backend !== ctx.backend) throw new CaseFailure(`result.backend is ${after.backend}, expected ${ctx.backend}`);
    expectExact('indices after the caller overwrote its weights', after.routing.indices, before.routing.indices);
    expectExact('output after the caller overwrote its weights', after.output, before.output);
  } finally {
    moe.destroy();
  }
  // Still the path it ran on, not a default, once destroyed.
  if (moe.backend !== ctx.backend) throw new CaseFailure(`moe.backend after destroy() is ${moe.backend}, expected ${ctx.backend}`);
}

/**
 * A router the GPU kernel does not implement (sigmoid scores) routes on the CPU in a WebGPU block, whose
 * experts still run on the GPU: result.backend says where the experts ran, routing.backend where it routed.
 */
async function runBackendLabels(ctx: CaseContext): Promise<void> {
  const random = rng(33);
  const w = swigluWeights(random, { E, d, f });
  const router = { kind: 'topk' as const, numExperts: E, topK: 2, score: 'sigmoid' as const, normalize: true };
  const moe = await ctx.api.createMoE({ dModel: d, router, expert: { dFF: f, activation: 'swiglu' } }, w, { backend: ctx.backend });
  try {
    const r = await moe.forward(normal(random, T * d, 1), { tokens: T });
    if (r.backend !== ctx.backend) throw new CaseFailure(`result.backend is ${r.backend}, expected ${ctx.backend}`);
    const routedOn = ctx.backend === 'webgpu' ? r.routing.backend !== 'webgpu' : r.routing.backend === ctx.backend;
    if (!routedOn) throw new CaseFailure(`routing.backend is ${r.routing.backend} on a ${ctx.backend} block with a sigmoid router`);
  } finally {
    moe.destroy();
  }
}

/**
 * destroy() right after forward() calls, on a block with a shared expert (run after the routed ones, once
 * released under the pending call): every call made before destroy() finishes with the answer it would
 * have had; a call after it is refused.
 */
async function runDestroyInFlight(ctx: CaseContext): Promise<void> {
  const random = rng(34);
  const w = {
    ...swigluWeights(random, { E, d, f }),
    'shared.gate': normal(random, f * d, 0.3), 'shared.up': normal(random, f * d, 0.3), 'shared.down': normal(random, d * f, 0.3),
  };
  const config = { dModel: d, router: { kind: 'topk' as const, numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' as const }, shared: { dFF: f, gated: false } };
  const hidden = normal(random, T * d, 1);
  const kept = await ctx.api.createMoE(config, w, { backend: ctx.backend });
  const want = await kept.forward(hidden, { tokens: T });
  kept.destroy();
  const moe = await ctx.api.createMoE(config, w, { backend: ctx.backend });
  const calls = [moe.forward(hidden, { tokens: T }), moe.forward(hidden, { tokens: T })];
  moe.destroy();
  for (const [i, call] of calls.entries()) expectExact(`output of call ${i} made before destroy()`, (await call).output, want.output);
  let refused: unknown;
  try {
    await moe.forward(hidden, { tokens: T });
  } catch (e) {
    refused = e;
  }
  if (!(refused instanceof ctx.api.SwitchyardError) || refused.code !== 'backend') throw new CaseFailure(`forward() after destroy(): expected 'backend', got ${String(refused)}`);
}

/** route() gives given logits back as routing.logits: its own copy, not the caller's reusable buffer. */
async function runRoute(ctx: CaseContext): Promise<void> {
  const logits = normal(rng(32), T * E, 1);
  const r = await ctx.api.route({ kind: 'topk', numExperts: E, topK: 2 }, { tokens: T, logits }, { backend: ctx.backend });
  const kept = r.logits.slice();
  expectExact('routing.logits as returned', kept, logits);
  logits.fill(7);
  expectExact('routing.logits after the caller overwrote its logits', r.logits, kept);
}

export const weightOwnershipCases: ConformanceCase[] = [{
  name: 'weights are the block\'s own from createMoE: overwriting the caller\'s buffers changes nothing',
  backends: ['reference', 'wasm', 'webgpu'],
  run,
}, {
  name: 'forward(): result.backend is the path of the experts, routing.backend that of the routing',
  backends: ['reference', 'wasm', 'webgpu'],
  run: runBackendLabels,
}, {
  name: 'destroy() with forwards in flight: they finish as they would have, later calls are refused',
  backends: ['reference', 'wasm', 'webgpu'],
  run: runDestroyInFlight,
}, {
  name: 'route() results are their own: overwriting the caller\'s logits changes nothing',
  backends: ['reference', 'wasm', 'webgpu'],
  run: runRoute,
}];
