// Every router kind on the same tokens: the demo's hidden states [T, d] and router weight [E, d], routed
// by each family's preset, with the health numbers side by side (DESIGN.md §3 "Routing").
import { routers } from '../routing/presets.js';
import { updateExpertBias } from '../routing/expert-bias.js';
import type { BackendName, RouterInput, RouterSpec, Routing } from '../spec/types.js';
import type { CorpusResult } from './hash-corpus.js';
import { routeOn } from './route-on.js';
import { seededRandom } from './synthetic.js';
import { formatTable } from './table.js';

export interface RouterTableOptions {
  /** [nToken, dModel] */
  hidden: Float32Array;
  /** [nExpert, dModel] */
  weight: Float32Array;
  tokens: number;
  nExpert: number;
  topK: number;
  seed: number;
  /** Switch's capacity applies per sequence of this many tokens (Switch Transformers: C per group). */
  sequenceLength: number;
  /** Rounds of updateExpertBias for the DeepSeek-V3 row, and the rate of each. */
  biasRounds: number;
  biasRate: number;
}

/** Vocabulary the seeded token ids are drawn from when the corpus is absent (≈ GPT-2's 50 257). */
const SEEDED_VOCAB = 50_000;

/** [nToken] ids for the hash router: a window of the Brown corpus, or seeded uniform ids. */
function hashTokenIds(o: RouterTableOptions, corpus: CorpusResult | undefined): { ids: Int32Array; source: string } {
  const random = seededRandom(o.seed + 1);
  if (corpus?.ok && corpus.corpus.tokenIds.length >= o.tokens) {
    const all = corpus.corpus.tokenIds;
    const start = Math.floor(random() * (all.length - o.tokens));
    return { ids: all.slice(start, start + o.tokens), source: `Brown corpus tokens ${start}…${start + o.tokens - 1} (o200k)` };
  }
  const ids = new Int32Array(o.tokens);
  for (let t = 0; t < o.tokens; t++) ids[t] = Math.floor(random() * SEEDED_VOCAB);
  return { ids, source: `seeded uniform ids < ${SEEDED_VOCAB} (no corpus: these balance better than real text)` };
}

/** Mean over tokens of the sum of its mixing weights: 1 when renormalised, < 1 without, × scale. */
function meanWeightSum(r: Routing, nToken: number): number {
  let sum = 0;
  for (const w of r.weights) sum += w;
  return sum / nToken;
}

interface Row {
  name: string;
  routing: Routing;
}

export async function printRouterTable(o: RouterTableOptions, backend: BackendName, print: (line: string) => void, corpus?: CorpusResult): Promise<void> {
  const { nExpert: E, topK: k } = o;
  const tokenIds = hashTokenIds(o, corpus);
  const input: RouterInput = { tokens: o.tokens, hidden: o.hidden, weight: o.weight, tokenIds: tokenIds.ids, sequenceLength: o.sequenceLength };
  // DeepSeek-V3's shape at this scale: 4 groups of E/4, the best 2 kept, top-2 sum per group.
  const groups = { nGroup: 4, topkGroup: 2 };

  // Aux-loss-free balancing (Wang et al. 2024): route, nudge the selection bias against the load, repeat.
  // The same tokens every round stand in for a stream of similar batches.
  const bias = new Float32Array(E);
  const biasTrace: number[] = [];
  for (let round = 0; round < o.biasRounds; round++) {
    const r = await routeOn(routers.deepseekV3({ E, k, ...groups, bias }), input, backend);
    biasTrace.push(r.stats.maxOverMean);
    updateExpertBias(bias, r.stats.load, o.biasRate);
  }

  const specs: [string, RouterSpec][] = [
    ['mixtral (softmax, renorm)', routers.mixtral({ E, k })],
    ['qwen (softmax, no renorm)', routers.qwen({ E, k })],
    ['deepseekV3 (bias 0)', routers.deepseekV3({ E, k, ...groups })],
    [`deepseekV3 (bias, ${o.biasRounds} rounds)`, routers.deepseekV3({ E, k, ...groups, bias })],
    [`switch (k=1, cf 1.0, S=${o.sequenceLength})`, routers.switch({ E, capacityFactor: 1 })],
    ['sinkhorn', routers.sinkhorn({ E, k })],
    [`expertChoice (c=${k})`, routers.expertChoice({ E, capacityFactor: k })],
    ['selfRouting', routers.selfRouting({ E, k })],
    ['hashLayer (token ids)', routers.hashLayer({ E, k })],
    ['random', { kind: 'random', numExperts: E, topK: k, seed: o.seed }],
  ];
  const rows: Row[] = [];
  for (const [name, spec] of specs) rows.push({ name, routing: await routeOn(spec, input, backend) });

  print(`\nevery router on the same ${o.tokens} tokens and router weight (E=${E}, k=${k}; asked for backend '${backend}', 'reference' where it does not run the kind yet)`);
  const lines = formatTable(
    ['router', 'path', 'Σw/token', 'loadEntropy', 'tokenEntropy', 'max/mean', 'dead', 'dropped', 'aux', 'z'],
    rows.map(({ name, routing: r }) => [
      name,
      r.backend,
      meanWeightSum(r, o.tokens).toFixed(3),
      r.stats.loadEntropy.toFixed(4),
      r.stats.tokenEntropy.toFixed(4),
      r.stats.maxOverMean.toFixed(2),
      String(r.stats.deadExperts),
      `${r.stats.dropped} (${(100 * r.stats.droppedFraction).toFixed(1)} %)`,
      r.losses.aux.toFixed(4),
      r.losses.z.toFixed(4),
    ]),
  );
  for (const l of lines) print(l);
  let spread = 0;
  for (const b of bias) spread = Math.max(spread, Math.abs(b));
  print(`deepseekV3: ${groups.nGroup} groups, best ${groups.topkGroup}, scale 2.5. updateExpertBias at rate ${o.biasRate}: max/mean by round ${biasTrace.map((m) => m.toFixed(2)).join(' → ')}; |bias| ≤ ${spread.toFixed(3)}`);
  print(`hash token ids: ${tokenIds.source}`);
  print('aux is 1.0 at perfect balance; hash and random rows score the router\'s softmax, which they ignore; expert choice has E slots per token');
}
