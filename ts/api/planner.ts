// The planner behind `backend: 'auto'`: which path runs a call of T tokens, chosen from costs measured on
// this machine the first time a shape class is seen, then cached (DESIGN.md §2: "measured once, not
// guessed"). It knows nothing about MoE: a candidate is a name, and running one is a callback that does
// the call's real work on that path. Every path computes the same answer within its stated tolerance, so
// the choice changes speed, never results beyond tolerance.
//
// What is measured: the call itself. Its first run is the work the caller needs anyway; the other
// candidates run the same input once each, and that extra time is what the budget bounds. Measuring real
// calls rather than a synthetic input keeps the data (and so the routing, the rows per expert) honest and
// needs no generator. The winner's result is returned, so `routing.backend` names the path that won.
// A candidate whose cost at T nothing bounds yet (it never ran, or only at far fewer tokens) is first
// timed on a prefix of the call (a probe, its result discarded), small enough that the budget holds, and
// its cost at T bounded from that: so the only runs no estimate bounds are a path's first of one token
// and its first of two (ts/api/cost-bounds.ts: one token is a regime of its own).
import { costBounds, sameRegime, type CostPoint } from './cost-bounds.js';

/**
 * Monotonic milliseconds. performance.now() by default; workerd's stands still during compute, but
 * workerd has no GPU, so its blocks have one candidate and never measure.
 */
export type Clock = () => number;

/**
 * What one run costs, from what the clock measured. The identity here; tests inject a model (cost by path
 * and T) so that which path wins is decided by the test, never by wall-clock time.
 */
export type CostSource<C extends string> = (path: C, nToken: number, measuredMs: number) => number;

/**
 * Extra time calibration may spend per block, all shape classes together. A block is created once and
 * called thousands of times; 200 ms is below what a user notices at load time and above a few runs of
 * every path at the token counts of decode and short prefill on a laptop CPU or GPU.
 */
export const CALIBRATION_BUDGET_MS = 200;

/**
 * A path whose lower-bound cost exceeds the best run of a class by this factor is not measured there.
 * Single runs vary: by ~10% for wasm here, up to ~2× for the GPU on a software adapter sharing two cores.
 */
const CLEARLY_SLOWER = 3;

/**
 * Probe sizes are T / PROBE_STEP^i: each probe bounds the next size's cost (cost·T/T') within PROBE_STEP
 * times its own, so a few probes reach any T while each stays a small share of the budget.
 */
const PROBE_STEP = 4;

/**
 * Probes per candidate and class at most: the 2-token floor, its warm repeat and two larger prefixes; a
 * path still not bounded within the budget after them sits the class out.
 */
const MAX_PROBES = 4;

/**
 * Does one call's work on a path: all `nToken` tokens of the call, or (a probe) only its first `nToken`
 * tokens, whose result the planner discards.
 */
export type PathRun<C extends string, R> = (path: C, nToken: number) => Promise<R>;

/**
 * The shape class of a call: ⌈log2 T⌉ (1 | 2 | 3–4 | 5–8 | … | 257–512 | …). The block's other dims
 * (dModel, dFF, experts, k, dtype) are fixed per block and go in the table key, so T alone varies. Costs
 * are close to affine in T, so the ratio between two paths drifts slowly within a doubling; and T = 1
 * (decode) is a class of its own, where both paths switch to their one-row kernels.
 */
export function shapeClass(nToken: number): number {
  return nToken <= 1 ? 0 : 32 - Math.clz32(nToken - 1);
}

/** What calibration learnt about one shape class. */
export interface ClassPlan<C extends string> {
  winner: C;
  /** The T whose run was measured (costs scale from it to other classes). */
  nToken: number;
  /** Milliseconds per candidate that ran; Infinity when its run threw. */
  costs: Partial<Record<C, number>>;
  /** Candidates whose only run here was their first in the block (one-time costs included). */
  cold: C[];
}

/**
 * Measured plans by block signature and shape class, shared by the blocks of one process: the 24 layers
 * of a model have one signature, so the first block calibrates and the others reuse its answers.
 */
export class PlanTable {
  private readonly plans = new Map<string, Map<number, ClassPlan<string>>>();

  get<C extends string>(key: string, cls: number): ClassPlan<C> | undefined {
    return this.plans.get(key)?.get(cls) as ClassPlan<C> | undefined;
  }

  set<C extends string>(key: string, cls: number, plan: ClassPlan<C>): void {
    let byClass = this.plans.get(key);
    if (!byClass) this.plans.set(key, (byClass = new Map()));
    byClass.set(cls, plan);
  }

  classes(key: string): ReadonlyMap<number, ClassPlan<string>> {
    return this.plans.get(key) ?? new Map();
  }

  private readonly claimed = new Set<string>();

  /**
   * True for the first block of a key to ask: the block that will calibrate, so createMoE binds all its
   * candidates at load instead of inside a measured call (identical blocks made later reuse its plans and
   * bind only what those plans choose).
   */
  claim(key: string): boolean {
    if (this.claimed.has(key)) return false;
    this.claimed.add(key);
    return true;
  }
}

export const sharedPlanTable = new PlanTable();

const ids = new WeakMap<object, number>();
let nextId = 1;

/** A number per object for table keys: plans measured on one device or wasm instance do not hold for another. */
export function instanceId(object: object): number {
  let id = ids.get(object);
  if (id === undefined) ids.set(object, (id = nextId++));
  return id;
}

export interface PlannerOptions<C extends string> {
  /** In order of preference: the first runs until something is measured. Never empty. */
  candidates: readonly C[];
  /** What makes two blocks cost the same (dims, dtype, path instances); the table key. */
  key: string;
  table?: PlanTable;
  clock?: Clock;
  cost?: CostSource<C>;
  budgetMs?: number;
  /**
   * Readies a path before its first run (binding the weights: packing, an upload). Timed apart: it is
   * paid once, so it is charged to the budget but is no part of what a call costs on that path.
   */
  prepare?: (path: C) => Promise<unknown>;
  /**
   * A count of one-time costs the path has paid so far (memory or buffers grown for a larger call). A run
   * during which it changed is treated as cold, as a path's first run is: its time is an upper bound, not
   * a cost, and calibration runs the path again warm when the budget allows.
   */
  oneTimeWork?: (path: C) => number;
}

/**
 * What createMoE gives the planners it makes. Internal (not exported by ts/index.ts): tests replace the
 * cost source or the table to make decisions deterministic, and restore them after.
 */
export const plannerDefaults: { table: PlanTable; clock: Clock; cost: CostSource<string>; budgetMs: number } = {
  table: sharedPlanTable,
  clock: () => performance.now(),
  cost: (_path, _nToken, measuredMs) => measuredMs,
  budgetMs: CALIBRATION_BUDGET_MS,
};

export class Planner<C extends string> {
  readonly candidates: readonly C[];
  private readonly key: string;
  private readonly table: PlanTable;
  private readonly clock: Clock;
  private readonly cost: CostSource<C>;
  private readonly budgetMs: number;
  private readonly prepare: ((path: C) => Promise<unknown>) | undefined;
  private readonly oneTimeWork: ((path: C) => number) | undefined;
  /** Extra milliseconds calibration spent so far in this block. */
  private spentMs = 0;
  /** Candidates that have completed a run in this block, so their next run pays no one-time costs. */
  private readonly warm = new Set<C>();
  /** Classes decided without measurement (budget spent): this block's guess, not shared with others. */
  private readonly inferred = new Map<number, C>();
  /** The calibration in progress: concurrent measurements would time each other, so one at a time. */
  private busy: Promise<void> | undefined;
  /** Probe runs by candidate (on prefixes of calls), for bounds beside the table's plans. */
  private readonly probes = new Map<C, CostPoint[]>();
  /** How many classes this planner measured itself (tests: no second calibration of a class). */
  calibrations = 0;

  constructor(options: PlannerOptions<C>) {
    if (options.candidates.length === 0) throw new Error('Planner: no candidate path');
    this.candidates = options.candidates;
    this.key = options.key;
    this.table = options.table ?? plannerDefaults.table;
    this.clock = options.clock ?? plannerDefaults.clock;
    this.cost = options.cost ?? plannerDefaults.cost;
    this.budgetMs = options.budgetMs ?? plannerDefaults.budgetMs;
    this.prepare = options.prepare;
    this.oneTimeWork = options.oneTimeWork;
  }

  get spent(): number {
    return this.spentMs;
  }

  /** The path that won the most measured classes of this key, else the first preference: bound at creation. */
  preferred(): C {
    const wins = new Map<C, number>();
    for (const plan of this.table.classes(this.key).values()) {
      const winner = plan.winner as C;
      if (this.candidates.includes(winner)) wins.set(winner, (wins.get(winner) ?? 0) + 1);
    }
    let best = this.candidates[0];
    for (const [path, n] of wins) if (n > (wins.get(best) ?? 0)) best = path;
    return best;
  }

  /** Runs one call on the path its class chose, calibrating the class first if it is new. */
  async run<R>(nToken: number, exec: PathRun<C, R>): Promise<{ result: R; path: C }> {
    // One path (forced, or the only one here): nothing to choose, nothing to time.
    if (this.candidates.length === 1) return { result: await exec(this.candidates[0], nToken), path: this.candidates[0] };
    const cls = shapeClass(nToken);
    let path = this.decided(cls);
    while (path === undefined && this.busy) {
      await this.busy;
      path = this.decided(cls);
    }
    if (path !== undefined) return { result: (await this.timed(path, nToken, exec)).result, path };
    let release!: () => void;
    this.busy = new Promise((resolve) => (release = resolve));
    try {
      return await this.calibrate(cls, nToken, exec);
    } finally {
      this.busy = undefined;
      release();
    }
  }

  private decided(cls: number): C | undefined {
    if (this.candidates.length === 1) return this.candidates[0];
    const plan = this.table.get<C>(this.key, cls);
    if (plan && this.candidates.includes(plan.winner)) return this.revised(plan);
    return this.inferred.get(cls);
  }

  /**
   * A class decided while some candidate had not run there (the budget did not reach it) is decided again
   * once that candidate's runs at other token counts bound its cost at the class's T below what the winner
   * costs there warm at least: an upper bound (ts/api/cost-bounds.ts) against a lower one, so the switch
   * needs no run. The bound goes into the plan as a cold cost (an upper bound to other classes, never a
   * lower one).
   */
  private revised(plan: ClassPlan<C>): C {
    for (const path of this.candidates) {
      if (plan.costs[path] !== undefined) continue;
      const { upper } = costBounds(this.points(path), plan.nToken);
      if (upper < this.warmCostAtLeast(plan)) {
        plan.costs[path] = upper;
        plan.cold.push(path);
        plan.winner = path;
      }
    }
    return plan.winner;
  }

  /** What the winner of a plan costs warm at its T at least: its run there, or if that was cold (one-time work included), its lower bound. */
  private warmCostAtLeast(plan: ClassPlan<C>): number {
    const ms = plan.costs[plan.winner] ?? 0;
    return plan.cold.includes(plan.winner) ? Math.min(ms, costBounds(this.points(plan.winner), plan.nToken).lower) : ms;
  }

  /** Before measuring a class: the winner of the nearest measured class (costs vary smoothly in T), else the first preference. */
  private guess(cls: number): C {
    let best: C | undefined;
    let distance = Infinity;
    for (const [other, plan] of this.table.classes(this.key)) {
      const winner = plan.winner as C;
      if (!this.candidates.includes(winner)) continue;
      const d = Math.abs(other - cls);
      if (d < distance || (d === distance && other < cls)) [best, distance] = [winner, d];
    }
    return best ?? this.candidates[0];
  }

  private async calibrate<R>(cls: number, nToken: number, exec: PathRun<C, R>): Promise<{ result: R; path: C }> {
    const first = this.guess(cls);
    // The call itself, on the likeliest winner: the caller needs this run, so it is not charged.
    const firstRun = await this.timed(first, nToken, exec);
    if (this.remaining() <= 0) {
      this.inferred.set(cls, first);
      return { result: firstRun.result, path: first };
    }
    this.calibrations++;
    const costs = new Map<C, number>([[first, firstRun.ms]]);
    const results = new Map<C, R>([[first, firstRun.result]]);
    const cold = new Set<C>(firstRun.cold ? [first] : []);
    const charge = async (path: C): Promise<void> => {
      const started = this.clock();
      try {
        const run = await this.timed(path, nToken, exec);
        this.spentMs += run.ms + run.prepareMs;
        costs.set(path, run.ms);
        results.set(path, run.result);
        if (run.cold) cold.add(path);
        else cold.delete(path);
      } catch {
        // A path that fails here (a limit this T exceeds, a device lost meanwhile) is not a candidate for
        // the class; the call already has its answer. The block notices a lost device itself.
        this.spentMs += this.clock() - started;
        costs.set(path, Infinity);
      }
    };
    for (const path of this.candidates) {
      if (path !== first && await this.worthMeasuring(path, nToken, costs.get(argMin(costs))!, exec)) await charge(path);
    }
    // A first run in the block pays one-time costs (shader compilation, packing, memory growth): run a
    // cold candidate again, warm, unless it already wins or its cold time alone would overrun the budget.
    for (const path of [...cold]) {
      if (path !== argMin(costs) && costs.get(path)! <= this.remaining()) await charge(path);
    }
    const winner = argMin(costs);
    this.table.set<C>(this.key, cls, { winner, nToken, costs: Object.fromEntries(costs) as Partial<Record<C, number>>, cold: [...cold] });
    return { result: results.get(winner)!, path: winner };
  }

  /**
   * Whether measuring `path` at T is worth its time, from its runs at other classes and its probes
   * (ts/api/cost-bounds.ts): not when its lower bound makes it clearly slower than the best run of this
   * class, nor when its estimate exceeds the budget left. While nothing bounds it within the budget, it is
   * probed on a prefix of the call whose own estimate fits half the budget left (two tokens when nothing is
   * known of T > 1), and judged again with that run known.
   */
  private async worthMeasuring<R>(path: C, nToken: number, best: number, exec: PathRun<C, R>): Promise<boolean> {
    for (let probes = 0; ; probes++) {
      const left = this.remaining();
      if (left <= 0) return false;
      const points = this.points(path);
      const { lower, estimate } = costBounds(points, nToken);
      if (lower > CLEARLY_SLOWER * best) return false;
      if (estimate <= left) return true;
      // The smallest run of its regime, when nothing is known of it, is the floor: it runs unbounded.
      if (nToken <= 2 && estimate === Infinity) return true;
      const size = probes < MAX_PROBES ? this.probeSize(points, nToken, left / 2) : undefined;
      if (size === undefined) return false;
      if (!(await this.probe(path, size, exec))) return false;
    }
  }

  /**
   * The prefix to time next: the largest T / PROBE_STEP^i (at least 2) above every run known below T
   * whose estimate fits `fits` — 2 also when nothing bounds it (the floor of T > 1) — or, when every run
   * known below T was cold (one-time work inflates it), the smallest of them again, warm. Called for T > 2.
   */
  private probeSize(points: readonly CostPoint[], nToken: number, fits: number): number | undefined {
    const below = points.filter((p) => Number.isFinite(p.ms) && sameRegime(p.nToken, nToken) && p.nToken < nToken);
    if (below.length > 0 && below.every((p) => p.cold)) {
      const size = Math.min(...below.map((p) => p.nToken));
      return costBounds(points, size).estimate <= fits ? size : undefined;
    }
    const done = Math.max(0, ...below.map((p) => p.nToken));
    const sizes: number[] = [];
    for (let size = Math.floor(nToken / PROBE_STEP); size > 2; size = Math.floor(size / PROBE_STEP)) sizes.push(size);
    sizes.push(2);
    for (const size of sizes) {
      if (size <= done) break;
      const estimate = costBounds(points, size).estimate;
      if (estimate <= fits || (size === 2 && estimate === Infinity)) return size;
    }
    return undefined;
  }

  /**
   * Times `path` on the first `size` tokens of the call; the time is charged, the result dropped. False
   * when the run threw: the path is then no candidate for the class, as when its full run throws.
   */
  private async probe<R>(path: C, size: number, exec: PathRun<C, R>): Promise<boolean> {
    const started = this.clock();
    let point: CostPoint;
    try {
      const run = await this.timed(path, size, exec);
      this.spentMs += run.ms + run.prepareMs;
      point = { nToken: size, ms: run.ms, cold: run.cold };
    } catch {
      this.spentMs += this.clock() - started;
      point = { nToken: size, ms: Infinity, cold: true };
    }
    const list = this.probes.get(path) ?? [];
    list.push(point);
    this.probes.set(path, list);
    return Number.isFinite(point.ms);
  }

  /** What is known of a path's costs: its measured classes (shared table) and this block's probes. */
  private points(path: C): CostPoint[] {
    const points: CostPoint[] = [...(this.probes.get(path) ?? [])];
    for (const plan of this.table.classes(this.key).values()) {
      const ms = (plan as ClassPlan<C>).costs[path];
      if (ms !== undefined) points.push({ nToken: plan.nToken, ms, cold: plan.cold.includes(path) });
    }
    return points;
  }

  private remaining(): number {
    return this.budgetMs - this.spentMs;
  }

  private async timed<R>(path: C, nToken: number, exec: PathRun<C, R>): Promise<{ result: R; ms: number; prepareMs: number; cold: boolean }> {
    const first = !this.warm.has(path);
    let started = this.clock();
    if (first && this.prepare) await this.prepare(path);
    const prepareMs = this.clock() - started;
    const paidBefore = this.oneTimeWork?.(path);
    started = this.clock();
    const result = await exec(path, nToken);
    const ms = this.cost(path, nToken, this.clock() - started);
    this.warm.add(path);
    return { result, ms, prepareMs, cold: first || this.oneTimeWork?.(path) !== paidBefore };
  }
}

/** The cheapest candidate; ties go to the one measured first (the guess, then preference order). */
function argMin<C>(costs: ReadonlyMap<C, number>): C {
  let best: C | undefined;
  let bestCost = Infinity;
  for (const [path, cost] of costs) {
    if (best === undefined || cost < bestCost) [best, bestCost] = [path, cost];
  }
  return best!;
}
