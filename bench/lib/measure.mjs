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

/** A variant's round of calls: ≥ min samples and ≥ ms in all, timed here — or by the variant itself. */
async function roundOf(variant, ms, min) {
  if (typeof variant !== 'function') return variant.round(ms, min);
  const samples = [];
  const end = performance.now() + ms;
  for (let n = 0; n < min || performance.now() < end; n++) {
    const t0 = performance.now();
    await variant();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/**
 * Times several variants of one case in alternating rounds — a, b, c, a, b, c, … — and returns each
 * one's statistics as measure() does. The machine here has slow and fast phases lasting seconds (a
 * 1-thread FFN took 39 or 46 ms, its 2-thread run 20.5 or 27.5 ms); timed one after the other, two
 * variants can land in different phases and their ratio mixes them, while rounds spread every variant
 * over the same phases. Each gets budget.time ms in all and at least budget.iterations samples.
 * A variant is a fn (sync or async) timed here per call, or { round(ms, min) → Promise<ms[]> } that
 * times its own calls — a peer in a worker thread, whose message round trip is not the peer's cost.
 */
export async function measureInterleaved(variants, budget) {
  for (const v of variants) await roundOf(v, 0, budget.warmupIterations);
  const samples = variants.map(() => []);
  const roundMedians = variants.map(() => []);
  const perRound = budget.time / ROUNDS;
  const minPerRound = Math.ceil(budget.iterations / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, v] of variants.entries()) {
      const got = await roundOf(v, perRound, minPerRound);
      samples[i].push(...got);
      roundMedians[i].push(statsOf(got).median);
    }
  }
  return samples.map((s, i) => ({ ...statsOf(s), roundMedians: roundMedians[i] }));
}

/**
 * How many times faster `fast` ran than `slow` (both from one measureInterleaved call): the median over
 * rounds of slow's round median over fast's. Two variants timed next to each other in one round share that
 * moment's phase of the machine, so this follows their ratio where the ratio of whole-run medians can mix
 * a slow phase of one with a fast phase of the other (here a 1-thread forward took 45 ms in one run and
 * 73 ms in the next, minutes later).
 */
export function pairedSpeedup(slow, fast) {
  const ratios = slow.roundMedians.map((m, i) => m / fast.roundMedians[i]);
  return statsOf(ratios).median;
}
