#!/usr/bin/env node
// route() at T = 4096 on the wasm path against the reference path, from the built bundle
// (dist/switchyard.node.js: run `node scripts/build.mjs` first). Prints the median of each and the ratio
// reference / wasm; the target is wasm ≥ 5× reference on the first two specs. Every spec is
// checked for agreement (ids exactly) before it is timed, so a fast wrong answer cannot pass as a result.
// Usage: node bench/router.bench.mjs [--quick]
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { measure, BUDGETS } from './lib/measure.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const distFile = join(root, 'dist', 'switchyard.node.js');
if (!existsSync(distFile)) throw new Error('dist/switchyard.node.js is missing: run `node scripts/build.mjs` first');
const { route } = await import(pathToFileURL(distFile).href);

const T = 4096;
const E = 64;
const quick = process.argv.includes('--quick');

/** mulberry32, so both paths and every run see the same logits. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(0x7047e5);
const logits = Float32Array.from({ length: T * E }, () => (random() * 2 - 1) * 3); // [T, E]
const selectionBias = Float32Array.from({ length: E }, () => (random() * 2 - 1) * 0.1); // [E]
const tokenIds = Int32Array.from({ length: T }, () => Math.floor(random() * 50000)); // [T]

const SPECS = [
  { name: 'topk softmax k8 normalize', spec: { kind: 'topk', numExperts: E, topK: 8, normalize: true } },
  {
    name: 'topk sigmoid k8 groups 8/4 + bias + capacity 1.25 (probs)',
    spec: {
      kind: 'topk', numExperts: E, topK: 8, score: 'sigmoid', normalize: true, scale: 2.5, selectionBias,
      groups: { count: 8, topk: 4 }, capacity: { factor: 1.25, dropPolicy: 'probs' },
    },
  },
  { name: 'topk k2 capacity 1 position, padded, per sequence S512', spec: { kind: 'topk', numExperts: E, topK: 2, capacity: { factor: 1, dropPolicy: 'position', padToCapacity: true, per: 'sequence' } }, sequenceLength: 512 },
  { name: 'sinkhorn k1', spec: { kind: 'sinkhorn', numExperts: E, topK: 1 } },
  { name: 'expert-choice c2', spec: { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 2 } },
  { name: 'hash k2 (fmix32 walk)', spec: { kind: 'hash', numExperts: E, topK: 2 }, ids: true },
];

const budget = quick ? BUDGETS.quick : BUDGETS.full;
const specs = quick ? SPECS.slice(0, 2) : SPECS;
console.log(`route() T${T} E${E}, median of tinybench samples (${quick ? 'quick' : 'full'} budget), node ${process.version}`);
for (const { name, spec, ids, sequenceLength } of specs) {
  const input = { tokens: T, logits, ...(ids ? { tokenIds } : {}), ...(sequenceLength ? { sequenceLength } : {}) };
  const wasm = await route(spec, input, { backend: 'wasm' });
  const reference = await route(spec, input, { backend: 'reference' });
  const same = wasm.indices.length === reference.indices.length && wasm.indices.every((e, i) => e === reference.indices[i]);
  if (!same) throw new Error(`${name}: wasm and reference disagree on ids; not timing it`);
  const w = await measure(() => route(spec, input, { backend: 'wasm' }), budget);
  const r = await measure(() => route(spec, input, { backend: 'reference' }), budget);
  console.log(`${name.padEnd(58)} reference ${r.median.toFixed(2).padStart(8)} ms   wasm ${w.median.toFixed(2).padStart(7)} ms   ${(r.median / w.median).toFixed(1).padStart(5)}×`);
}
