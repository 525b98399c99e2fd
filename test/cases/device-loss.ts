// DESIGN.md §4: a lost GPU device moves the block to the CPU for the next call and says so once. These
// cases destroy a device of their own and go on at once, without awaiting device.lost: runtimes settle
// that promise at different times (Deno after the failed call's error), and the answer must not depend
// on it. Each call after the loss runs on WASM and equals the dense oracle.
import { expectExact, expectRelativeToNorm } from './compare.js';
import { denseMoE } from './oracle.js';
import { makeBlock, type Shape } from './random-moe.js';
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

const SHAPE: Shape = { seed: 97, T: 9, d: 24, f: 20, E: 6, k: 2, normalize: true };
/** The WASM path against the f64 oracle, as in random-moe.ts. */
const OUTPUT_BOUND = 1e-5;

async function ownDevice(ctx: CaseContext): Promise<GPUDevice> {
  if (!ctx.gpuDevice) throw new CaseFailure('this lane gives no GPU device of its own (CaseContext.gpuDevice)');
  return ctx.gpuDevice();
}

/** Runs body with console.warn recorded; returns how many warnings spoke of a lost device. */
async function countingLossWarnings(body: () => Promise<void>): Promise<number> {
  const original = console.warn;
  let count = 0;
  console.warn = (...args: unknown[]) => { if (String(args[0]).includes('device lost')) count++; };
  try {
    await body();
  } finally {
    console.warn = original;
  }
  return count;
}

async function run(ctx: CaseContext, destroyWhen: 'between calls' | 'as a call starts'): Promise<void> {
  const { m, hidden } = makeBlock(SHAPE);
  const { T, E, k, d, f } = SHAPE;
  const want = denseMoE(m, hidden, T);
  const device = await ownDevice(ctx);
  const moe = await ctx.api.createMoE(
    { dModel: d, router: { kind: 'topk', numExperts: E, topK: k, normalize: true }, expert: { dFF: f, activation: 'swiglu' } },
    { 'router.weight': m.routerWeight, 'experts.gate': m.gate, 'experts.up': m.up, 'experts.down': m.down },
    { backend: 'webgpu', device },
  );
  try {
    const before = await moe.forward(hidden, { tokens: T });
    if (before.routing.backend !== 'webgpu') throw new CaseFailure(`before the loss: ran on ${before.routing.backend}, expected webgpu`);
    const warnings = await countingLossWarnings(async () => {
      let first: Promise<{ output: Float32Array; routing: { backend: string; indices: Int32Array } }>;
      if (destroyWhen === 'between calls') {
        device.destroy();
        first = moe.forward(hidden, { tokens: T });
      } else {
        first = moe.forward(hidden, { tokens: T });
        device.destroy();
      }
      const results = [await first, await moe.forward(hidden, { tokens: T })];
      for (const [i, r] of results.entries()) {
        if (r.routing.backend !== 'wasm') throw new CaseFailure(`call ${i + 1} after the loss ran on ${r.routing.backend}, expected wasm`);
        expectExact(`call ${i + 1} indices`, r.routing.indices, want.indices);
        expectRelativeToNorm(`call ${i + 1} output`, r.output, want.output, OUTPUT_BOUND);
      }
    });
    if (warnings !== 1) throw new CaseFailure(`${warnings} device-lost warnings, expected exactly 1`);
  } finally {
    moe.destroy();
  }
}

async function runRoute(ctx: CaseContext): Promise<void> {
  const { m, hidden } = makeBlock(SHAPE);
  const { T, E, k } = SHAPE;
  const want = denseMoE(m, hidden, T);
  const spec = { kind: 'topk' as const, numExperts: E, topK: k, normalize: true };
  const input = { tokens: T, hidden, weight: m.routerWeight };
  const device = await ownDevice(ctx);
  const before = await ctx.api.route(spec, input, { backend: 'webgpu', device });
  if (before.backend !== 'webgpu') throw new CaseFailure(`before the loss: routed on ${before.backend}, expected webgpu`);
  device.destroy();
  const warnings = await countingLossWarnings(async () => {
    for (let call = 1; call <= 2; call++) {
      const r = await ctx.api.route(spec, input, { backend: 'webgpu', device });
      if (r.backend !== 'wasm') throw new CaseFailure(`route ${call} after the loss ran on ${r.backend}, expected wasm`);
      expectExact(`route ${call} indices`, r.indices, want.indices);
    }
  });
  if (warnings !== 1) throw new CaseFailure(`${warnings} device-lost warnings from route(), expected exactly 1 (once per device)`);
}

export const deviceLossCases: ConformanceCase[] = [
  {
    name: `device loss: destroyed between calls, lost not awaited; the next calls run on wasm (seed ${SHAPE.seed})`,
    backends: ['webgpu'],
    run: (ctx) => run(ctx, 'between calls'),
  },
  {
    name: `device loss: destroyed as a forward starts; that forward completes on wasm (seed ${SHAPE.seed})`,
    backends: ['webgpu'],
    run: (ctx) => run(ctx, 'as a call starts'),
  },
  {
    name: `device loss: route() on a device destroyed, lost not awaited, runs on wasm (seed ${SHAPE.seed})`,
    backends: ['webgpu'],
    run: runRoute,
  },
];
