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
