// `switchyard inspect <dir-or-safetensors> [--layer N] [--stack encoder|decoder] [--tokens T] [--seed S]
// [--backend B]` (Node only): what a checkpoint's MoE layer is — family, MoE layers, E, k, its tensors'
// shapes and dtypes — and how it routes a seeded batch of random hidden states.
import { dirname } from 'node:path';
import { SwitchyardError, describe } from '../errors.js';
import { fromHuggingFace } from '../api/from-hugging-face.js';
import { gaussian, seededRandom } from '../demo/synthetic.js';
import { familyOf } from '../formats/families/index.js';
import type { Stack } from '../formats/families/common.js';
import { moeLayerPrefixes, moeLayers } from '../formats/layers.js';
import type { BackendName, MoEConfig, Routing } from '../spec/types.js';
import { openCheckpoint, readLayer, tensorNames, type Checkpoint } from './checkpoint.js';

export const INSPECT_USAGE = `usage: switchyard inspect <dir | file.safetensors> [--layer N] [--stack encoder|decoder]
                         [--tokens T] [--seed S] [--backend auto|reference|wasm|webgpu]

  inspect  reads config.json (+ model.safetensors.index.json) and the safetensors headers, prints the
           model family, its MoE layers, and one layer's E, k and tensors (default: the first MoE
           layer), then routes T seeded random tokens through that layer and prints the routing stats.
           dir may be a Hugging Face hub cache folder (models--org--name): its refs/main snapshot, or its only one`;

interface InspectOptions {
  path: string;
  layer: number | undefined;
  stack: Stack | undefined;
  tokens: number;
  seed: number;
  backend: BackendName;
}

function parseArgs(args: string[]): InspectOptions {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) {
      if (i + 1 >= args.length) throw new SwitchyardError('config', args[i], 'expected a value after the flag');
      flags.set(args[i], args[++i]);
    } else {
      positional.push(args[i]);
    }
  }
  const known = ['--layer', '--stack', '--tokens', '--seed', '--backend'];
  const unknown = [...flags.keys()].find((f) => !known.includes(f));
  if (unknown) throw new SwitchyardError('config', unknown, `unknown flag; expected one of ${known.join(', ')}`);
  if (positional.length !== 1) {
    throw new SwitchyardError('config', 'path', `expected one checkpoint directory or .safetensors file, got ${positional.length} paths`);
  }
  const int = (flag: string, fallback: number | undefined, min: number): number | undefined => {
    const raw = flags.get(flag);
    if (raw === undefined) return fallback;
    const v = Number(raw);
    if (!Number.isSafeInteger(v) || v < min) throw new SwitchyardError('range', flag, `expected an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return v;
  };
  const stack = flags.get('--stack');
  if (stack !== undefined && stack !== 'encoder' && stack !== 'decoder') {
    throw new SwitchyardError('config', '--stack', `expected encoder or decoder, got ${JSON.stringify(stack)}`);
  }
  const backend = flags.get('--backend') ?? 'auto';
  if (!['auto', 'reference', 'wasm', 'webgpu'].includes(backend)) {
    throw new SwitchyardError('config', '--backend', `expected auto, reference, wasm or webgpu, got ${JSON.stringify(backend)}`);
  }
  return {
    path: positional[0], layer: int('--layer', undefined, 0), stack,
    tokens: int('--tokens', 32, 1)!, seed: int('--seed', 0, 0)!, backend: backend as BackendName,
  };
}

/** "0-3, 5, 7-9" */
function ranges(xs: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    parts.push(j === i ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return parts.length ? parts.join(', ') : 'none';
}

/** The layer's tensors, per-expert names folded into one line each ("experts.*.w1.weight … ×8"). */
function tensorLines(ckpt: Checkpoint, prefix: string): string[] {
  const groups = new Map<string, { count: number; shard: Set<string> }>();
  for (const [name, shard] of tensorNames(ckpt)) {
    if (!name.startsWith(prefix)) continue;
    const e = shard.entries.get(name)!;
    const folded = name.slice(prefix.length).replace(/(^|\.)(experts\.(?:expert_)?)\d+\./, '$1$2*.');
    const key = `${folded}\t${e.dtype}\t[${e.shape.join(', ')}]`;
    const g = groups.get(key) ?? { count: 0, shard: new Set<string>() };
    g.count++;
    g.shard.add(shard.name);
    groups.set(key, g);
  }
  const rows = [...groups].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, g]) => {
    const [name, dtype, shape] = key.split('\t');
    return [name, dtype, shape, g.count > 1 ? `×${g.count}` : '', ckpt.shards.length > 1 ? [...g.shard].join(', ') : ''];
  });
  const widths = [0, 1, 2, 3].map((c) => Math.max(0, ...rows.map((r) => r[c].length)));
  return rows.map((r) => '  ' + r.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]) : cell)).join('  ').trimEnd());
}

function describeConfig(c: MoEConfig): string {
  const r = c.router as { numExperts: number; topK: number; score?: string; normalize?: boolean; scale?: number; groups?: { count: number; topk: number } };
  const parts = [`E=${r.numExperts}`, `k=${r.topK}`, `dModel=${c.dModel}`, `dFF=${c.expert.dFF}`, `activation=${c.expert.activation}`];
  parts.push(`score=${r.score ?? 'softmax'}${r.normalize ? ' renormalised' : ''}${r.scale !== undefined && r.scale !== 1 ? ` ×${r.scale}` : ''}`);
  if (r.groups) parts.push(`groups ${r.groups.topk} of ${r.groups.count}`);
  if (c.shared) parts.push(`shared dFF=${c.shared.dFF}${c.shared.gated ? ' (σ-gated)' : ''}`);
  return parts.join('  ');
}

function routingLines(r: Routing): string[] {
  const f = (x: number): string => x.toFixed(4);
  const lines = [
    `  load           [${Array.from(r.stats.load).join(', ')}]`,
    `  dropped        ${r.stats.dropped} (${(100 * r.stats.droppedFraction).toFixed(1)}%)`,
    `  token entropy  ${f(r.stats.tokenEntropy)}   load entropy ${f(r.stats.loadEntropy)}`,
    `  max/mean       ${f(r.stats.maxOverMean)}   cv ${f(r.stats.cv)}   dead experts ${r.stats.deadExperts}`,
    `  aux            ${f(r.losses.aux)}${r.losses.seqAux !== undefined ? `   seqAux ${f(r.losses.seqAux)}` : ''}   z ${f(r.losses.z)}`,
  ];
  return lines;
}

/**
 * Runs `switchyard inspect`; `print` receives each output line. Returns the exit code.
 *
 * @example
 * await runInspect(['./Qwen1.5-MoE-A2.7B', '--layer', '3'], console.log);
 */
export async function runInspect(args: string[], print: (line: string) => void): Promise<number> {
  if (args.includes('--help') || args.length === 0) {
    print(INSPECT_USAGE);
    return args.length === 0 ? 2 : 0;
  }
  const o = parseArgs(args);
  const ckpt = await openCheckpoint(o.path);
  const { modelType } = familyOf(ckpt.config);
  const stacks: Stack[] = ['encoder', 'decoder'];
  const layersOf = new Map(stacks.map((s) => [s, moeLayers(ckpt.config, { stack: s })] as const));
  const stack = o.stack ?? stacks.find((s) => layersOf.get(s)!.length > 0) ?? 'decoder';
  const layers = layersOf.get(stack)!;
  const layer = o.layer ?? layers[0];
  if (layer === undefined || !layers.includes(layer)) {
    throw new SwitchyardError('range', '--layer', `expected a MoE layer of the ${stack} (${ranges(layers)}), got ${describe(layer)}`);
  }
  const names = tensorNames(ckpt);
  const candidates = moeLayerPrefixes(ckpt.config, layer, { stack });
  const prefix = candidates.find((p) => [...names.keys()].some((n) => n.startsWith(p)));
  if (prefix === undefined) {
    throw new SwitchyardError('shape', '--layer', `expected layer ${layer}'s tensors under ${candidates.join(' or ')}, found none in the checkpoint`);
  }

  print(`checkpoint   ${o.path}${ckpt.dir !== o.path && ckpt.dir !== dirname(o.path) ? ` → ${ckpt.dir}` : ''} (${ckpt.shards.length} safetensors file${ckpt.shards.length > 1 ? 's' : ''}${ckpt.index ? ', with index' : ''})`);
  print(`family       ${modelType}`);
  for (const s of stacks) {
    if (s === 'encoder' && layersOf.get(s)!.length === 0) continue;
    print(`MoE layers   ${s}: ${ranges(layersOf.get(s)!)} (${layersOf.get(s)!.length})`);
  }
  const files = await readLayer(ckpt, prefix);
  const moe = await fromHuggingFace({ config: ckpt.config, files, index: ckpt.index, prefix }, { backend: o.backend });
  try {
    print(`layer        ${stack} ${layer}, prefix ${prefix}`);
    print(`block        ${describeConfig(moe.config)}`);
    print('tensors');
    for (const line of tensorLines(ckpt, prefix)) print(line);
    // Switch's capacity is per sequence: the batch is one sequence of T tokens.
    const sequenceLength = modelType === 'switch_transformers' ? o.tokens : undefined;
    const hidden = gaussian(seededRandom(o.seed), o.tokens * moe.config.dModel, 1); // reproducible N(0, 1) hidden states
    const { routing } = await moe.forward(hidden, { tokens: o.tokens, sequenceLength });
    print(`routing      ${o.tokens} tokens ~ N(0, 1), seed ${o.seed}, on ${routing.backend}`);
    for (const line of routingLines(routing)) print(line);
  } finally {
    moe.destroy();
  }
  return 0;
}
