// The planner behind backend 'auto' (ts/api/planner.ts) on a fake clock: each fake path advances the clock
// by a cost model of T, so which path wins is decided here, never by wall-clock time.
import { describe, expect, it } from 'vitest';
import { PlanTable, Planner, shapeClass } from '../../ts/api/planner.js';
import { costBounds } from '../../ts/api/cost-bounds.js';
import { rng } from '../cases/rng.js';

type Path = 'webgpu' | 'wasm';

/**
 * Milliseconds a warm run of T tokens takes; `cold` is added to a path's first run in a planner, `grow` to
 * every run at a T larger than the path ran before (its scratch grows: one-time work the path counts).
 */
interface CostModel { warm: (T: number) => number; cold?: number; grow?: number; fails?: (T: number) => boolean }

/** A GPU with a fixed launch latency and a cheap slope, a CPU the other way round: they cross at T ≈ 55. */
const CROSSING: Record<Path, CostModel> = {
  webgpu: { warm: (T) => 5 + 0.01 * T },
  wasm: { warm: (T) => 0.05 + 0.1 * T },
};

function fakePaths(models: Record<string, CostModel>) {
  let now = 0;
  const ran: { path: string; T: number }[] = [];
  const started = new Set<string>();
  const largest = new Map<string, number>();
  const grown = new Map<string, number>();
  const clock = () => now;
  /** The work of one call on `path`: its answer names the path, so a test sees which result came back. */
  const exec = (call: number) => async (path: string, T: number = call) => {
    const m = models[path];
    ran.push({ path, T });
    now += m.warm(T) + (started.has(path) ? 0 : m.cold ?? 0);
    started.add(path);
    if (m.grow !== undefined && T > (largest.get(path) ?? 0)) {
      now += m.grow;
      largest.set(path, T);
      grown.set(path, (grown.get(path) ?? 0) + 1);
    }
    await Promise.resolve();
    if (m.fails?.(T)) throw new Error(`${path} cannot run T=${T}`);
    return `${path}@${T}`;
  };
  return { clock, exec, ran, now: () => now, oneTimeWork: (path: string) => grown.get(path) ?? 0 };
}

function planner(models: Record<string, CostModel>, options: { candidates?: Path[]; table?: PlanTable; budgetMs?: number; key?: string } = {}) {
  const fake = fakePaths(models);
  const p = new Planner<Path>({
    candidates: options.candidates ?? ['webgpu', 'wasm'],
    key: options.key ?? 'block',
    table: options.table ?? new PlanTable(),
    clock: fake.clock,
    budgetMs: options.budgetMs,
    oneTimeWork: fake.oneTimeWork,
  });
  return { p, ...fake, run: (T: number) => p.run(T, fake.exec(T)) };
}

describe('shapeClass', () => {
  it('is ⌈log2 T⌉: 1 | 2 | 3–4 | 5–8 | …', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 64, 65, 256, 257, 512, 513].map(shapeClass)).toEqual([0, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 9, 10]);
  });
});

describe('costBounds', () => {
  it('knows nothing about a path that never ran', () => {
    expect(costBounds([], 64)).toEqual({ lower: 0, estimate: Infinity, upper: Infinity });
  });

  it('bounds above by a run at a larger T, or by cost·T/T\' from a smaller one', () => {
    expect(costBounds([{ nToken: 256, ms: 30, cold: true }], 64).estimate).toBe(30);
    expect(costBounds([{ nToken: 8, ms: 2, cold: false }], 64)).toEqual({ lower: 2, estimate: 16, upper: 16 });
  });

  it('extrapolates the line through two warm runs below T, and takes no lower bound from a cold run', () => {
    const gpu = [{ nToken: 2, ms: 5.02, cold: false }, { nToken: 16, ms: 5.16, cold: false }];
    expect(costBounds(gpu, 512).estimate).toBeCloseTo(10.12, 9);
    expect(costBounds(gpu, 512).upper).toBeCloseTo(5.16 * 32, 9);
    expect(costBounds([{ nToken: 2, ms: 300, cold: true }], 4)).toEqual({ lower: 0, estimate: 600, upper: 600 });
  });

  it('takes nothing across the one-token boundary: T = 1 runs other kernels', () => {
    expect(costBounds([{ nToken: 1, ms: 7, cold: false }], 4)).toEqual({ lower: 0, estimate: Infinity, upper: Infinity });
    expect(costBounds([{ nToken: 4, ms: 200, cold: false }], 1)).toEqual({ lower: 0, estimate: Infinity, upper: Infinity });
    expect(costBounds([{ nToken: 1, ms: 7, cold: false }, { nToken: 4, ms: 200, cold: false }], 1)).toEqual({ lower: 7, estimate: 7, upper: 7 });
  });
});

describe('Planner', () => {
  it('picks the cheaper path per shape class and returns that path\'s result', async () => {
    const { run } = planner(CROSSING);
    expect(await run(512)).toEqual({ result: 'webgpu@512', path: 'webgpu' });
    expect(await run(1)).toEqual({ result: 'wasm@1', path: 'wasm' });
    expect(await run(16)).toEqual({ result: 'wasm@16', path: 'wasm' });
    expect(await run(200)).toEqual({ result: 'webgpu@200', path: 'webgpu' });
  });

  it('caches the winner per class: a later call of the class runs once, on the winner', async () => {
    const { p, run, ran } = planner(CROSSING);
    await run(3);
    expect(p.calibrations).toBe(1);
    // The GPU ran first (the first preference); then the CPU, never run, on two tokens (a probe), then on
    // the call; then the GPU again: its first run was cold.
    expect(ran).toEqual([{ path: 'webgpu', T: 3 }, { path: 'wasm', T: 2 }, { path: 'wasm', T: 3 }, { path: 'webgpu', T: 3 }]);
    ran.length = 0;
    for (const T of [3, 4, 4, 3]) expect((await run(T)).path).toBe('wasm');
    expect(ran).toEqual([3, 4, 4, 3].map((T) => ({ path: 'wasm', T })));
    expect(p.calibrations).toBe(1);
    await run(5); // a new class
    expect(p.calibrations).toBe(2);
  });

  it('runs a new class first on the nearest measured class\'s winner', async () => {
    const { run, ran } = planner(CROSSING);
    await run(1);
    ran.length = 0;
    await run(2);
    expect(ran[0].path).toBe('wasm');
  });

  it('shares measured plans between planners of one key through the table, not across keys', async () => {
    const table = new PlanTable();
    const a = planner(CROSSING, { table });
    await a.run(1);
    const b = planner(CROSSING, { table });
    expect(await b.run(1)).toEqual({ result: 'wasm@1', path: 'wasm' });
    expect(b.p.calibrations).toBe(0);
    expect(b.p.preferred()).toBe('wasm');
    const c = planner(CROSSING, { table, key: 'other block' });
    await c.run(1);
    expect(c.p.calibrations).toBe(1);
  });

  it('never measures with one candidate', async () => {
    const { p, run, ran } = planner(CROSSING, { candidates: ['wasm'] });
    for (const T of [1, 64, 257]) expect((await run(T)).path).toBe('wasm');
    expect(ran).toHaveLength(3);
    expect(p.calibrations).toBe(0);
    expect(p.spent).toBe(0);
  });

  it('probes a path nothing bounds on prefixes of the call, and never runs it whole past the budget', async () => {
    const slow: Record<Path, CostModel> = { webgpu: { warm: (T) => 10 + T / 4 }, wasm: { warm: (T) => T / 2 } };
    const { p, run, ran } = planner(slow);
    // webgpu: the call itself, free. wasm has never run: two tokens (1 ms, cold), again warm (1 ms: bounds
    // the call at 512 ms, over the budget), then 64 tokens (32 ms, the largest T/4^i within half the budget
    // left) bound it at 512 ms again. No prefix left that fits, so it is not run on the whole call.
    expect((await run(1024)).path).toBe('webgpu');
    expect(ran).toEqual([{ path: 'webgpu', T: 1024 }, { path: 'wasm', T: 2 }, { path: 'wasm', T: 2 }, { path: 'wasm', T: 64 }]);
    expect(p.spent).toBe(34);
  });

  it('charges only the extra runs to the budget, and infers classes once it is spent', async () => {
    // A first run of one token is the one run nothing bounds: here it overruns a 10 ms budget.
    const slow: Record<Path, CostModel> = { webgpu: { warm: (T) => 10 + T / 4 }, wasm: { warm: (T) => T / 2, cold: 20 } };
    const { p, run, ran } = planner(slow, { budgetMs: 10 });
    expect((await run(1)).path).toBe('webgpu');
    expect(p.spent).toBe(20.5);
    expect(p.calibrations).toBe(1);
    ran.length = 0;
    const r = await run(64); // budget spent: one run, on the nearest measured class's winner
    expect(r).toEqual({ result: 'webgpu@64', path: 'webgpu' });
    expect(ran).toEqual([{ path: 'webgpu', T: 64 }]);
    expect(p.calibrations).toBe(1);
    ran.length = 0;
    await run(40); // the inferred class is cached too
    expect(ran).toEqual([{ path: 'webgpu', T: 40 }]);
  });

  it('does not measure a path whose cost, bounded from a smaller T, exceeds the budget left', async () => {
    const slow: Record<Path, CostModel> = { webgpu: { warm: (T) => 10 + T / 4 }, wasm: { warm: (T) => T / 2 } };
    const { p, run, ran } = planner(slow);
    await run(1); // webgpu (free), wasm 0.5 ms, webgpu again (its first run was cold) 10.25 ms
    expect(p.spent).toBeCloseTo(10.75, 9);
    ran.length = 0;
    // webgpu's run at T=1 bounds nothing at T > 1. Probed on 2 tokens (10.5 ms), it is bounded at 5376 ms;
    // on 16 (14 ms, the largest T/4^i within half the budget left) and on 256 (74 ms, the line through
    // its two warm runs), its estimate for the call is 266 ms: still more than the 91 ms left, so it is
    // not run whole (those 266 ms would have won; the budget is what it is).
    expect((await run(1024)).path).toBe('wasm');
    expect(ran).toEqual([{ path: 'wasm', T: 1024 }, { path: 'webgpu', T: 2 }, { path: 'webgpu', T: 16 }, { path: 'webgpu', T: 256 }]);
    expect(p.spent).toBeCloseTo(10.75 + 10.5 + 14 + 74, 9);
  });

  it('does not measure a path that a run at a larger T bounds above the budget left', async () => {
    const { p, run, ran } = planner({ webgpu: { warm: () => 5 }, wasm: { warm: (T) => 2 * T } }, { candidates: ['wasm', 'webgpu'], budgetMs: 100 });
    // wasm 128 (free); webgpu probed on 2 tokens (5, cold), again warm (bounds the call at 160), on 16
    // (bounds it at 5: the line), then run (5).
    expect((await run(64)).path).toBe('webgpu');
    expect(p.spent).toBe(20);
    ran.length = 0;
    // wasm at T=32 costs at most its (cold) 128 ms at T=64, more than the 85 ms left, and no smaller run
    // of it is known to probe from: not measured.
    expect((await run(32)).path).toBe('webgpu');
    expect(ran).toEqual([{ path: 'webgpu', T: 32 }]);
    expect(p.spent).toBe(20);
  });

  it('does not measure a path that a warm run at a smaller T proves clearly slower', async () => {
    const { run, ran } = planner({ webgpu: { warm: () => 60 }, wasm: { warm: () => 1 } });
    expect((await run(2)).path).toBe('wasm');
    ran.length = 0;
    expect((await run(8)).path).toBe('wasm');
    expect(ran).toEqual([{ path: 'wasm', T: 8 }]);
  });

  it('measures a cold loser again, warm, when that fits the budget', async () => {
    // The GPU's first run compiles its pipelines (60 ms); warm it beats the CPU.
    const { run, ran } = planner({ webgpu: { warm: () => 1, cold: 60 }, wasm: { warm: () => 5 } });
    expect((await run(8)).path).toBe('webgpu');
    // The CPU's first run was its two-token probe, so its run on the call was warm: not repeated.
    expect(ran).toEqual([{ path: 'webgpu', T: 8 }, { path: 'wasm', T: 2 }, { path: 'wasm', T: 8 }, { path: 'webgpu', T: 8 }]);
  });

  it('takes a run that paid one-time work (memory grown for a larger T) as cold, and measures it again warm', async () => {
    const table = new PlanTable();
    const { run, ran } = planner({ webgpu: { warm: () => 12 }, wasm: { warm: (T) => T / 10, grow: 8 } }, { table });
    // webgpu 12 (first), wasm 0.2 + 8 (first, grew), webgpu again warm (12): wasm wins.
    expect((await run(2)).path).toBe('wasm');
    ran.length = 0;
    // The call on wasm grows its scratch again (6.4 + 8 ms): no first run, but not warm either. webgpu is
    // probed on 4 tokens, run on the call (12 ms), and wasm again, warm (6.4 ms), wins: taken as a warm
    // cost, its 14.4 ms would have lost to webgpu's 12.
    const { result, path } = await run(64);
    expect(path).toBe('wasm');
    expect(result).toBe('wasm@64');
    expect(ran).toEqual([{ path: 'wasm', T: 64 }, { path: 'webgpu', T: 4 }, { path: 'webgpu', T: 64 }, { path: 'wasm', T: 64 }]);
    expect(table.get<Path>('block', shapeClass(64))).toMatchObject({
      winner: 'wasm', costs: { wasm: expect.closeTo(6.4, 9), webgpu: expect.closeTo(12, 9) }, cold: [],
    });
  });

  it('judges a cold run that alone exceeds the budget on that run', async () => {
    const { p, run, ran } = planner({ webgpu: { warm: () => 1, cold: 1500 }, wasm: { warm: () => 5 } });
    expect((await run(8)).path).toBe('wasm');
    expect(ran).toEqual([{ path: 'webgpu', T: 8 }, { path: 'wasm', T: 2 }, { path: 'wasm', T: 8 }]);
    expect(p.spent).toBe(10);
  });

  it('passes over a path whose extra run throws, for that class', async () => {
    const { run } = planner({ webgpu: { warm: () => 1, fails: (T) => T > 100 }, wasm: { warm: () => 5 } }, { candidates: ['wasm', 'webgpu'] });
    expect(await run(300)).toEqual({ result: 'wasm@300', path: 'wasm' });
    expect(await run(4)).toEqual({ result: 'webgpu@4', path: 'webgpu' });
  });

  it('calibrates a class once when calls of it overlap', async () => {
    const { p, exec, ran } = planner(CROSSING);
    const results = await Promise.all([1, 1, 2, 1].map((T) => p.run(T, exec(T))));
    expect(results.map((r) => r.path)).toEqual(['wasm', 'wasm', 'wasm', 'wasm']);
    expect(p.calibrations).toBe(2);
    expect(ran.filter((r) => r.T === 1).map((r) => r.path)).toEqual(['webgpu', 'wasm', 'webgpu', 'wasm', 'wasm']);
  });
  it('probes a path with a large fixed cost up to the call\'s size within the budget', async () => {
    // A GPU-like path: 30 ms of one-time work, then 1 ms per call plus 1 µs per token.
    const { p, run, ran } = planner({ webgpu: { warm: (T) => 1 + T / 1000, cold: 30 }, wasm: { warm: (T) => T / 2 } }, { candidates: ['wasm', 'webgpu'] });
    expect((await run(512)).path).toBe('webgpu');
    // 2 tokens (cold: 31 ms bounds the call at 7936), 2 again (warm: bounds it at 256 ms), 128 (the line
    // through two warm runs: 1.5 ms), then the call.
    expect(ran.map((r) => r.T)).toEqual([512, 2, 2, 128, 512]);
    expect(p.spent).toBeCloseTo(31.002 + 1.002 + 1.128 + 1.512, 9);
  });

  it('keeps calibration within the budget, but for first runs of one and two tokens, over random costs and calls', async () => {
    const random = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const model = (): CostModel => {
        const fixed = 50 * random() ** 2, perToken = random() ** 3, cold = random() < 0.5 ? 40 * random() : 0;
        return { warm: (T) => fixed + perToken * T, cold };
      };
      const models = { webgpu: model(), wasm: model() };
      const budgetMs = 20 + 300 * random();
      const { p, run } = planner(models, { budgetMs });
      // What no estimate can bound: each path's first run of one token and of two.
      const first = (m: CostModel) => m.warm(1) + m.warm(2) + m.cold!;
      const unbounded = first(models.webgpu) + first(models.wasm);
      for (let call = 0; call < 12; call++) await run(1 + Math.floor(1024 * random() ** 3));
      expect(p.spent).toBeLessThanOrEqual(budgetMs + unbounded + 1e-9);
    }
  });
  it('decides a class again, without a run, once a path it never measured there is bounded below the winner', async () => {
    // A slow GPU and a cheap CPU, a budget too small to measure the CPU at T = 1024 on the first call.
    const { p, run, ran } = planner({ webgpu: { warm: (T) => 150 + T / 4 }, wasm: { warm: (T) => T / 10 } }, { budgetMs: 30 });
    expect((await run(1024)).path).toBe('webgpu'); // wasm probed on 2, 2 and 64 tokens: bounded at 102 ms, over the 23 ms left
    expect(await run(8)).toEqual({ result: 'wasm@8', path: 'wasm' }); // measured here: 0.8 ms; the GPU 152 ms
    ran.length = 0;
    const spent = p.spent;
    // wasm's runs at 2, 8 and 64 tokens bound it at 102.4 ms for 1024; the GPU's 406 ms there were its
    // first run (cold), but its warm 152 ms at 8 tokens bound it below at 1024: wasm wins, unmeasured.
    expect(await run(1024)).toEqual({ result: 'wasm@1024', path: 'wasm' });
    expect(ran).toEqual([{ path: 'wasm', T: 1024 }]);
    expect(p.spent).toBe(spent);
  });
  it('keeps a cold winner when its warm cost may still be below the bound', async () => {
    // As above, but the GPU's warm runs (50 ms at 8 tokens) do not rule out its beating 102 ms at 1024.
    const { run } = planner({ webgpu: { warm: (T) => 50 + T / 4 }, wasm: { warm: (T) => T / 10 } }, { budgetMs: 30 });
    await run(1024);
    await run(8);
    expect((await run(1024)).path).toBe('webgpu');
  });
});
