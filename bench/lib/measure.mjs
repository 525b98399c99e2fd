// One tinybench task per measurement, with small budgets: the benches share two cores with other
// people's test runs, so each case runs for a fraction of a second and reports the median, which a
// few preempted samples do not move.
import { Bench } from 'tinybench';

/** Budgets per mode: ms of timed runs, minimum samples, ms of warm-up. */
export const BUDGETS = {
  quick: { time: 120, iterations: 3, warmupTime: 30, warmupIterations: 1 },
  full: { time: 400, iterations: 7, warmupTime: 100, warmupIterations: 2 },
};

/**
 * Times fn (sync or async) and returns its latency statistics in ms.
 * @returns { median, mean, mad, min, samples }
 */
export async function measure(fn, budget) {
  const bench = new Bench({ ...budget, throws: true });
  bench.add('case', fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw r.error ?? new Error(`tinybench task ended as ${r.state}`);
  const l = r.latency;
  return { median: l.p50, mean: l.mean, mad: l.mad, min: l.min, samples: l.samplesCount };
}

/** Rounds an interleaved measurement is cut into. */
const ROUNDS = 5;

/** median, mean, mad (median absolute deviation), min and count of a list of ms. */
function statsOf(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = (s) => (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2);
  const p50 = median(sorted);
  return {
    median: p50, mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    mad: median(sorted.map((x) => Math.abs(x - p50)).sort((a, b) => a - b)), min: sorted[0], samples: samples.length,
  };
}

/**
 * Times several fns (sync or async) of one case in alternating rounds — a, b, c, a, b, c, … — and returns
 * each one's statistics as measure() does. The machine here has slow and fast phases lasting seconds (a
 * 1-thread FFN took 39 or 46 ms, its 2-thread run 20.5 or 27.5 ms); timed one after the other, two
 * variants can land in different phases and their ratio mixes them, while rounds spread every variant
 * over the same phases. Each gets budget.time ms in all and at least budget.iterations samples.
 */
export async function measureInterleaved(fns, budget) {
  for (const fn of fns) for (let i = 0; i < budget.warmupIterations; i++) await fn();
  const samples = fns.map(() => []);
  const perRound = budget.time / ROUNDS;
  const minPerRound = Math.ceil(budget.iterations / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, fn] of fns.entries()) {
      const end = performance.now() + perRound;
      for (let n = 0; n < minPerRound || performance.now() < end; n++) {
        const t0 = performance.now();
        await fn();
        samples[i].push(performance.now() - t0);
      }
    }
  }
  return samples.map(statsOf);
}
