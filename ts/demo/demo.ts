// `switchyard demo`: one MoE layer with the shapes of a real small model, seeded, on every path this
// machine offers, with the router's health and each path's distance to the reference; then every router
// kind on the same tokens, and hash routing on real text (the Brown corpus, when installed).
import { createMoE } from '../api/create-moe.js';
import { cpuPath, gpuPath } from '../api/paths.js';
import type { BackendName, ForwardResult, MoE, MoEConfig, ResolvedBackend, Routing, RuntimeOptions } from '../spec/types.js';
import { loadBrownTokens, printHashCorpus } from './hash-corpus.js';
import { printRouterTable } from './router-table.js';
import { clusteredHidden, gaussian, seededRandom } from './synthetic.js';
import { formatTable } from './table.js';

export interface DemoOptions {
  tokens: number;
  dModel: number;
  nExpert: number;
  topK: number;
  dFF: number;
  seed: number;
  /** At most this many timed runs per path after one warm-up; the median is reported. */
  repeats: number;
  /** Stop timing a path once this much time went into it (software GPU adapters are slow). */
  budgetMs: number;
  /** The path asked of route() in the router and corpus sections (kinds it lacks run on the reference). */
  routerBackend: BackendName;
  /** Switch's capacity group, in tokens; must divide `tokens` (else the whole batch is one group). */
  sequenceLength: number;
  /** updateExpertBias rounds and rate for the DeepSeek-V3 row; far above DeepSeek's 1e-3 per step, so a
   *  few rounds on one batch show what thousands of training steps do. */
  biasRounds: number;
  biasRate: number;
}

export const DEFAULT_DEMO: DemoOptions = {
  tokens: 256, dModel: 1024, nExpert: 32, topK: 4, dFF: 512, seed: 42, repeats: 5, budgetMs: 3000,
  routerBackend: 'wasm', sequenceLength: 64, biasRounds: 8, biasRate: 0.02,
};

/** A row of the path table: a forced backend, and its thread count on wasm. */
interface DemoPath {
  label: string;
  options: RuntimeOptions;
  detail: string;
}

interface PathResult {
  label: string;
  backend: ResolvedBackend;
  detail: string;
  medianMs: number;
  runs: number;
  output: Float32Array;
  routing: Routing;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Times the blocks of `paths` in turns — one run of each, then the next round — each until it has
 * o.repeats runs or spent o.budgetMs. Taking turns keeps blocks timed together (WASM on 1 and on 2
 * threads) in the same phases of a machine whose speed drifts, so their ratio is fair.
 */
async function runPaths(paths: DemoPath[], config: MoEConfig, weights: Record<string, Float32Array>, hidden: Float32Array, o: DemoOptions): Promise<PathResult[]> {
  const runs: { path: DemoPath; moe: MoE; times: number[]; spent: number; last: ForwardResult }[] = [];
  try {
    for (const path of paths) {
      const moe = await createMoE(config, weights, path.options);
      runs.push({ path, moe, times: [], spent: 0, last: await moe.forward(hidden, { tokens: o.tokens }) });
    }
    const pending = (r: (typeof runs)[number]): boolean => r.times.length < o.repeats && (r.times.length === 0 || r.spent < o.budgetMs);
    while (runs.some(pending)) {
      for (const r of runs.filter(pending)) {
        const started = performance.now();
        r.last = await r.moe.forward(hidden, { tokens: o.tokens });
        r.times.push(performance.now() - started);
        r.spent += r.times[r.times.length - 1];
      }
    }
    return runs.map(({ path, moe, times, last }) => ({
      label: path.label, detail: path.options.threads ? `${path.detail} (ran on ${threadsRun(moe)})` : path.detail,
      medianMs: median(times), runs: times.length, ...last,
    }));
  } finally {
    for (const { moe } of runs) moe.destroy();
  }
}

async function availablePaths(): Promise<DemoPath[]> {
  const paths: DemoPath[] = [{ label: 'reference', options: { backend: 'reference' }, detail: 'TypeScript, f64 accumulation' }];
  const cpu = await cpuPath(undefined, 'auto');
  if (cpu.name === 'wasm') {
    const variant = (cpu as { variant?: string }).variant ?? '';
    paths.push({ label: 'wasm', options: { backend: 'wasm' }, detail: `WASM ${variant}, 1 thread` });
    // Where the runtime cannot start workers the block runs on 1 thread and says so; the row's detail
    // then reports the threads that really ran (threadStats).
    if (typeof SharedArrayBuffer === 'function') {
      paths.push({ label: 'wasm 2t', options: { backend: 'wasm', threads: 2 }, detail: `WASM ${variant}, options.threads 2` });
    }
  }
  const gpu = await gpuPath(undefined).catch(() => undefined);
  if (gpu) paths.push({ label: 'webgpu', options: { backend: 'webgpu' }, detail: `WebGPU ${gpu.adapterInfo ?? 'adapter'}` });
  return paths;
}

/** Threads the block's experts last ran on (a diagnostic outside the MoE contract; 1 when absent). */
function threadsRun(moe: MoE): number {
  return (moe as { threadStats?: { active: number } }).threadStats?.active ?? 1;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function runDemo(o: DemoOptions = DEFAULT_DEMO, print: (line: string) => void = console.log): Promise<void> {
  const random = seededRandom(o.seed);
  const { dModel: d, nExpert: E, dFF: f } = o;
  const config: MoEConfig = {
    dModel: d,
    router: { kind: 'topk', numExperts: E, topK: o.topK, normalize: true },
    expert: { dFF: f, activation: 'swiglu' },
  };
  const weights = {
    'router.weight': gaussian(random, E * d, 1 / Math.sqrt(d)),
    'experts.gate': gaussian(random, E * f * d, 1 / Math.sqrt(d)),
    'experts.up': gaussian(random, E * f * d, 1 / Math.sqrt(d)),
    'experts.down': gaussian(random, E * d * f, 1 / Math.sqrt(f)),
  };
  const hidden = clusteredHidden(random, o.tokens, d, 8, 0.5);
  const flops = 2 * o.tokens * o.topK * 3 * d * f;
  print(`switchyard demo: MoE layer d=${d}, E=${E}, k=${o.topK}, dFF=${f}, SwiGLU, T=${o.tokens} clustered tokens (seed ${o.seed})`);
  print(`expert FLOPs per forward: ${(flops / 1e9).toFixed(2)} G; median of up to ${o.repeats} runs (${o.budgetMs / 1000} s per path) after a warm-up\n`);

  // Each path on its own, but the WASM block on 1 and on 2 threads together (runPaths).
  const paths = await availablePaths();
  const results: PathResult[] = [];
  for (const path of paths) {
    if (results.some((r) => r.label === path.label)) continue;
    const together = path.options.backend === 'wasm' ? paths.filter((p) => p.options.backend === 'wasm') : [path];
    results.push(...(await runPaths(together, config, weights, hidden, o)));
  }
  const reference = results.find((r) => r.backend === 'reference')!;
  const header = ['path', 'runs', 'median ms', 'GFLOP/s', 'max |Δ| vs ref', 'ids = ref', 'tokenEntropy', 'loadEntropy', 'max/mean', 'aux', 'z'];
  const rows = results.map((r) => [
    r.label,
    String(r.runs),
    r.medianMs.toFixed(1),
    (flops / (r.medianMs * 1e6)).toFixed(2),
    r === reference ? '—' : maxAbsDiff(r.output, reference.output).toExponential(2),
    r.routing.indices.every((e, i) => e === reference.routing.indices[i]) ? 'yes' : 'NO',
    r.routing.stats.tokenEntropy.toFixed(4),
    r.routing.stats.loadEntropy.toFixed(4),
    r.routing.stats.maxOverMean.toFixed(2),
    r.routing.losses.aux.toFixed(4),
    r.routing.losses.z.toFixed(4),
  ]);
  for (const l of formatTable(header, rows)) print(l);
  print('');
  for (const r of results) print(`${r.label.padEnd(9)} ${r.detail}`);
  print(`\nload per expert (tokens·slots, ${o.tokens}×${o.topK} = ${o.tokens * o.topK}; mean ${(o.tokens * o.topK) / E}):`);
  const load = Array.from(reference.routing.stats.load);
  for (let e = 0; e < E; e += 16) {
    print(`  e${String(e).padStart(2, '0')}–${String(Math.min(e + 15, E - 1)).padStart(2, '0')}: ${load.slice(e, e + 16).map((n) => String(n).padStart(4)).join('')}`);
  }
  print(`dead experts: ${reference.routing.stats.deadExperts}, cv: ${reference.routing.stats.cv.toFixed(3)} (aux is 1.0 at perfect balance)`);

  const corpus = await loadBrownTokens();
  await printRouterTable({
    hidden, weight: weights['router.weight'], tokens: o.tokens, nExpert: E, topK: o.topK, seed: o.seed,
    sequenceLength: o.tokens % o.sequenceLength === 0 ? o.sequenceLength : o.tokens,
    biasRounds: o.biasRounds, biasRate: o.biasRate,
  }, o.routerBackend, print, corpus);
  await printHashCorpus(print, o.routerBackend, corpus);
}
