// Every Hugging Face family on seeded random configs (odd sizes, T = 1, k = E), built as checkpoint-named
// tensors (fused transformers-v5 names and per-expert on-disk names where the family has both), through
// fromHuggingFace on the reference path, against a dense f64 computation of the family's math written here
// straight from the Hugging Face layouts (x · Wᵀ for nn.Linear weights, x · W for GPT-OSS's experts, the
// interleaved gate/up, chunk(2) halves), never through the canonical names.
//
// Tolerance: OUTPUT_TOLERANCE of the output's largest entry. The reference path accumulates in f64 from
// the same f32 weights; what is left is f32 rounding of router scores, weights and the output (~1e-7).
// Seeds are redrawn (deterministically) until the top-k margin exceeds MIN_MARGIN, so f32 vs f64 cannot
// pick different experts.
import { describe, expect, it } from 'vitest';
import { rng } from '../cases/rng.js';
import { fromHuggingFace } from '../../ts/api/from-hugging-face.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { moeLayers } from '../../ts/formats/layers.js';
import { errorOf as code } from './error-of.js';
import type { SwitchyardError } from '../../ts/errors.js';

const OUTPUT_TOLERANCE = 1e-5;
const MIN_MARGIN = 1e-4;

type Tensors = Record<string, Float32Array>;

function randomArray(next: () => number, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * next() - 1) * scale);
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const silu = (x: number): number => x * sigmoid(x);

/** erf to ~1.2e-7 (Numerical Recipes' erfc Chebyshev fit), for Hugging Face's exact GELU. */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc : erfc - 1;
}

/** ACT2FN[name] as transformers defines each name: hidden_act of the gated families, Switch's dense_act_fn. */
const ACT2FN: Record<string, (x: number) => number> = {
  silu, swish: silu, gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), relu: (x) => Math.max(x, 0),
};

/** y = W x for an nn.Linear weight W [out, in] stored at `offset`. */
function linear(w: Float32Array, offset: number, out: number, x: ArrayLike<number>, inDim: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let acc = 0;
    for (let i = 0; i < inDim; i++) acc += w[offset + o * inDim + i] * x[i];
    y[o] = acc;
  }
  return y;
}

/** down(act(gate x) ⊙ up x) with gate / up rows [f, d] at gOff / uOff and down [d, f] at dOff; act = silu unless given. */
function swiglu(gate: Float32Array, gOff: number, up: Float32Array, uOff: number, down: Float32Array, dOff: number, x: ArrayLike<number>, d: number, f: number, act = silu): Float64Array {
  const g = linear(gate, gOff, f, x, d);
  const u = linear(up, uOff, f, x, d);
  return linear(down, dOff, d, g.map((gi, i) => act(gi) * u[i]), f);
}

function softmax(z: ArrayLike<number>): Float64Array {
  const max = Math.max(...Array.from(z));
  const e = Float64Array.from(z, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Indices of the k largest (ties to the lower index) and the margin between the k-th and (k+1)-th. */
function topk(s: ArrayLike<number>, k: number): { idx: number[]; margin: number } {
  const order = Array.from({ length: s.length }, (_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
  const margin = k < s.length ? s[order[k - 1]] - s[order[k]] : Infinity;
  return { idx: order.slice(0, k), margin };
}

interface Built {
  label: string;
  config: Record<string, unknown>;
  tensors: Tensors;
  T: number;
  d: number;
  sequenceLength?: number;
  hidden: Float32Array;
  /** The dense f64 output [T, d] and the smallest selection margin seen. */
  expected: { output: Float64Array; margin: number };
}

interface Sizes {
  d: number; f: number; E: number; k: number; T: number;
  /** config.hidden_act of the gated families (left out of the config when absent: 'silu'); Switch: dense_act_fn ('relu') */
  hiddenAct?: string;
}

/** The config's hidden_act field, when the sizes name one. */
const hiddenActField = (s: Sizes): Record<string, string> => (s.hiddenAct ? { hidden_act: s.hiddenAct } : {});
const gateActivation = (s: Sizes) => ACT2FN[s.hiddenAct ?? 'silu'];

/** The family's routing (ids, weights) for one token; `margin` is the selection's distance to a tie. */
type Route = (x: Float32Array, t: number) => { ids: number[]; weights: number[]; margin: number };

function denseOutput(T: number, d: number, hidden: Float32Array, route: Route, expert: (e: number, x: Float32Array) => Float64Array, shared?: (x: Float32Array) => Float64Array) {
  const output = new Float64Array(T * d);
  let margin = Infinity;
  for (let t = 0; t < T; t++) {
    const x = hidden.subarray(t * d, (t + 1) * d);
    const r = route(x, t);
    margin = Math.min(margin, r.margin);
    r.ids.forEach((e, j) => {
      const y = expert(e, x);
      for (let o = 0; o < d; o++) output[t * d + o] += r.weights[j] * y[o];
    });
    if (shared) {
      const y = shared(x);
      for (let o = 0; o < d; o++) output[t * d + o] += y[o];
    }
  }
  return { output, margin };
}

/** Fused v5 gate_up_proj [E, 2f, d] + down_proj [E, d, f], or per-expert names, from the same values. */
function swigluTensors(next: () => number, s: Sizes, perExpert: readonly [string, string, string] | undefined): { tensors: Tensors; expert: (e: number, x: Float32Array) => Float64Array } {
  const { d, f, E } = s;
  const gateUp = randomArray(next, E * 2 * f * d, 1 / Math.sqrt(d));
  const down = randomArray(next, E * d * f, 1 / Math.sqrt(f));
  const expert = (e: number, x: Float32Array) => swiglu(gateUp, e * 2 * f * d, gateUp, (e * 2 + 1) * f * d, down, e * d * f, x, d, f, gateActivation(s));
  if (!perExpert) return { tensors: { 'experts.gate_up_proj': gateUp, 'experts.down_proj': down }, expert };
  const tensors: Tensors = {};
  for (let e = 0; e < E; e++) {
    tensors[`experts.${e}.${perExpert[0]}.weight`] = gateUp.slice(e * 2 * f * d, (e * 2 + 1) * f * d);
    tensors[`experts.${e}.${perExpert[1]}.weight`] = gateUp.slice((e * 2 + 1) * f * d, (e * 2 + 2) * f * d);
    tensors[`experts.${e}.${perExpert[2]}.weight`] = down.slice(e * d * f, (e + 1) * d * f);
  }
  return { tensors, expert };
}

type Builder = (next: () => number, s: Sizes, naming: 'fused' | 'per-expert') => Omit<Built, 'label' | 'T' | 'd' | 'hidden' | 'expected'> & {
  route: Route; expert: (e: number, x: Float32Array) => Float64Array; shared?: (x: Float32Array) => Float64Array; names?: string;
};

/** Softmax → top-k → optionally renormalised (Mixtral always; Qwen / OLMoE with norm_topk_prob). */
function softmaxRoute(gate: Float32Array, s: Sizes, normalize: boolean): Route {
  return (x) => {
    const p = softmax(linear(gate, 0, s.E, x, s.d));
    const { idx, margin } = topk(p, s.k);
    const sum = normalize ? idx.reduce((a, e) => a + p[e], 0) : 1;
    return { ids: idx, weights: idx.map((e) => p[e] / sum), margin };
  };
}

/** GPT-OSS / Granite: top-k of the logits, softmax over the k. */
function logitTopkRoute(gate: Float32Array, bias: Float32Array | undefined, s: Sizes): Route {
  return (x) => {
    const z = linear(gate, 0, s.E, x, s.d).map((v, e) => v + (bias ? bias[e] : 0));
    const { idx, margin } = topk(z, s.k);
    const w = softmax(idx.map((e) => z[e]));
    return { ids: idx, weights: Array.from(w), margin };
  };
}

const BUILDERS: Record<string, Builder> = {
  mixtral(next, s, naming) {
    const gate = randomArray(next, s.E * s.d, 1);
    const ex = swigluTensors(next, s, naming === 'per-expert' ? ['w1', 'w3', 'w2'] : undefined);
    return {
      config: { ...hiddenActField(s), model_type: 'mixtral', hidden_size: s.d, intermediate_size: s.f, num_local_experts: s.E, num_experts_per_tok: s.k },
      tensors: { 'gate.weight': gate, ...ex.tensors }, route: softmaxRoute(gate, s, true), expert: ex.expert,
    };
  },
  olmoe(next, s, naming) {
    const gate = randomArray(next, s.E * s.d, 1);
    const ex = swigluTensors(next, s, naming === 'per-expert' ? ['gate_proj', 'up_proj', 'down_proj'] : undefined);
    return {
      config: { ...hiddenActField(s), model_type: 'olmoe', hidden_size: s.d, intermediate_size: s.f, num_experts: s.E, num_experts_per_tok: s.k, norm_topk_prob: false },
      tensors: { 'gate.weight': gate, ...ex.tensors }, route: softmaxRoute(gate, s, false), expert: ex.expert,
    };
  },
  qwen3_moe(next, s, naming) {
    const gate = randomArray(next, s.E * s.d, 1);
    const ex = swigluTensors(next, s, naming === 'per-expert' ? ['gate_proj', 'up_proj', 'down_proj'] : undefined);
    return {
      config: { ...hiddenActField(s), model_type: 'qwen3_moe', hidden_size: s.d, moe_intermediate_size: s.f, num_experts: s.E, num_experts_per_tok: s.k, norm_topk_prob: true },
      tensors: { 'gate.weight': gate, ...ex.tensors }, route: softmaxRoute(gate, s, true), expert: ex.expert,
    };
  },
  qwen2_moe(next, s, naming) {
    const sf = s.f + 4; // a shared width different from the routed one
    const gate = randomArray(next, s.E * s.d, 1);
    const ex = swigluTensors(next, s, naming === 'per-expert' ? ['gate_proj', 'up_proj', 'down_proj'] : undefined);
    const sg = randomArray(next, sf * s.d, 1 / Math.sqrt(s.d));
    const su = randomArray(next, sf * s.d, 1 / Math.sqrt(s.d));
    const sd = randomArray(next, s.d * sf, 1 / Math.sqrt(sf));
    const sgate = randomArray(next, s.d, 1);
    return {
      config: { ...hiddenActField(s), model_type: 'qwen2_moe', hidden_size: s.d, moe_intermediate_size: s.f, shared_expert_intermediate_size: sf, num_experts: s.E, num_experts_per_tok: s.k, norm_topk_prob: false },
      tensors: {
        'gate.weight': gate, ...ex.tensors,
        'shared_expert.gate_proj.weight': sg, 'shared_expert.up_proj.weight': su, 'shared_expert.down_proj.weight': sd,
        'shared_expert_gate.weight': sgate,
      },
      route: softmaxRoute(gate, s, false),
      expert: ex.expert,
      shared: (x) => swiglu(sg, 0, su, 0, sd, 0, x, s.d, sf, gateActivation(s)).map((v) => v * sigmoid(linear(sgate, 0, 1, x, s.d)[0])),
    };
  },
  deepseek_v3(next, s, naming) {
    // Groups of 2 or 3 experts; keep all groups when k = E.
    const nGroup = s.E % 3 === 0 ? s.E / 3 : s.E / 2;
    const groupSize = s.E / nGroup;
    const topkGroup = s.k === s.E ? nGroup : Math.max(1, Math.ceil(s.k / groupSize));
    const nShared = 2;
    const scale = 1.7;
    const gate = randomArray(next, s.E * s.d, 1);
    const bias = randomArray(next, s.E, 0.3);
    const ex = swigluTensors(next, s, naming === 'per-expert' ? ['gate_proj', 'up_proj', 'down_proj'] : undefined);
    const sf = s.f * nShared;
    const sg = randomArray(next, sf * s.d, 1 / Math.sqrt(s.d));
    const su = randomArray(next, sf * s.d, 1 / Math.sqrt(s.d));
    const sd = randomArray(next, s.d * sf, 1 / Math.sqrt(sf));
    const route: Route = (x) => {
      const sc = linear(gate, 0, s.E, x, s.d).map(sigmoid);
      const c = sc.map((v, e) => v + bias[e]);
      // Group score: the sum of the top-2 biased scores of each group (transformers hard-codes 2).
      const groupScores = Array.from({ length: nGroup }, (_, g) => {
        const members = Array.from(c.subarray(g * groupSize, (g + 1) * groupSize)).sort((a, b) => b - a);
        return members[0] + (members[1] ?? 0);
      });
      const kept = topk(groupScores, topkGroup);
      const masked = Array.from(c, (v, e) => (kept.idx.includes(Math.floor(e / groupSize)) ? v : -Infinity));
      const { idx, margin } = topk(masked, s.k);
      const sum = idx.reduce((a, e) => a + sc[e], 0) + 1e-20;
      return { ids: idx, weights: idx.map((e) => (sc[e] / sum) * scale), margin: Math.min(margin, kept.margin) };
    };
    return {
      config: {
        ...hiddenActField(s), model_type: 'deepseek_v3', hidden_size: s.d, moe_intermediate_size: s.f, n_routed_experts: s.E, num_experts_per_tok: s.k,
        n_group: nGroup, topk_group: topkGroup, routed_scaling_factor: scale, norm_topk_prob: true, n_shared_experts: nShared,
      },
      tensors: {
        'gate.weight': gate, 'gate.e_score_correction_bias': bias, ...ex.tensors,
        'shared_experts.gate_proj.weight': sg, 'shared_experts.up_proj.weight': su, 'shared_experts.down_proj.weight': sd,
      },
      route, expert: ex.expert, shared: (x) => swiglu(sg, 0, su, 0, sd, 0, x, s.d, sf, gateActivation(s)),
    };
  },
  gpt_oss(next, s) {
    const limit = 0.9; // small, so both clamps bind on these random weights
    const gate = randomArray(next, s.E * s.d, 1);
    const rbias = randomArray(next, s.E, 0.5);
    const gu = randomArray(next, s.E * s.d * 2 * s.f, 1); // [E, d, 2f], x · W, interleaved
    const gub = randomArray(next, s.E * 2 * s.f, 0.5);
    const down = randomArray(next, s.E * s.f * s.d, 1 / Math.sqrt(s.f)); // [E, f, d], h · W
    const db = randomArray(next, s.E * s.d, 0.5);
    const expert = (e: number, x: Float32Array): Float64Array => {
      const h = new Float64Array(s.f);
      for (let j = 0; j < s.f; j++) {
        let g = gub[e * 2 * s.f + 2 * j];
        let u = gub[e * 2 * s.f + 2 * j + 1];
        for (let i = 0; i < s.d; i++) {
          g += x[i] * gu[(e * s.d + i) * 2 * s.f + 2 * j];
          u += x[i] * gu[(e * s.d + i) * 2 * s.f + 2 * j + 1];
        }
        g = Math.min(g, limit);
        u = Math.min(Math.max(u, -limit), limit);
        h[j] = (u + 1) * g * sigmoid(1.702 * g);
      }
      const y = new Float64Array(s.d);
      for (let o = 0; o < s.d; o++) {
        let acc = db[e * s.d + o];
        for (let j = 0; j < s.f; j++) acc += h[j] * down[(e * s.f + j) * s.d + o];
        y[o] = acc;
      }
      return y;
    };
    return {
      config: { model_type: 'gpt_oss', hidden_size: s.d, intermediate_size: s.f, num_local_experts: s.E, num_experts_per_tok: s.k, swiglu_limit: limit },
      tensors: {
        'router.weight': gate, 'router.bias': rbias, 'experts.gate_up_proj': gu, 'experts.gate_up_proj_bias': gub,
        'experts.down_proj': down, 'experts.down_proj_bias': db,
      },
      route: logitTopkRoute(gate, rbias, s), expert,
    };
  },
  granitemoe(next, s) {
    const gate = randomArray(next, s.E * s.d, 1);
    const input = randomArray(next, s.E * 2 * s.f * s.d, 1 / Math.sqrt(s.d)); // [E, 2f, d], gate half first
    const output = randomArray(next, s.E * s.d * s.f, 1 / Math.sqrt(s.f)); // [E, d, f]
    return {
      config: { ...hiddenActField(s), model_type: 'granitemoe', hidden_size: s.d, intermediate_size: s.f, num_local_experts: s.E, num_experts_per_tok: s.k },
      tensors: { 'router.layer.weight': gate, 'input_linear.weight': input, 'output_linear.weight': output },
      route: logitTopkRoute(gate, undefined, s),
      expert: (e, x) => swiglu(input, e * 2 * s.f * s.d, input, (e * 2 + 1) * s.f * s.d, output, e * s.d * s.f, x, s.d, s.f, gateActivation(s)),
    };
  },
  switch_transformers(next, s) {
    // Capacity per sequence, position order; k is 1 whatever s.k says.
    const capacity = Math.max(1, Math.floor(s.T / (2 * s.E)));
    const routerBias = s.E > 1;
    const gate = randomArray(next, s.E * s.d, 1);
    const bias = randomArray(next, s.E, 0.5);
    const wi: Float32Array[] = [];
    const wo: Float32Array[] = [];
    const tensors: Tensors = { 'router.classifier.weight': gate, ...(routerBias ? { 'router.classifier.bias': bias } : {}) };
    for (let e = 0; e < s.E; e++) {
      wi.push(randomArray(next, s.f * s.d, 1 / Math.sqrt(s.d)));
      wo.push(randomArray(next, s.d * s.f, 1 / Math.sqrt(s.f)));
      tensors[`experts.expert_${e}.wi.weight`] = wi[e];
      tensors[`experts.expert_${e}.wo.weight`] = wo[e];
    }
    const S = s.T % 2 === 0 ? s.T / 2 : s.T; // two sequences when T is even
    const taken: number[] = [];
    const route: Route = (x, t) => {
      if (t % S === 0) taken.splice(0, taken.length, ...new Array(s.E).fill(0));
      const p = softmax(linear(gate, 0, s.E, x, s.d).map((v, e) => v + (routerBias ? bias[e] : 0)));
      const { idx, margin } = topk(p, 1);
      const e = idx[0];
      taken[e]++;
      return taken[e] <= capacity ? { ids: [e], weights: [p[e]], margin } : { ids: [], weights: [], margin };
    };
    return {
      config: {
        model_type: 'switch_transformers', d_model: s.d, d_ff: s.f, num_experts: s.E, expert_capacity: capacity, router_bias: routerBias,
        ...(s.hiddenAct ? { dense_act_fn: s.hiddenAct } : {}),
      },
      tensors, route, sequenceLength: S,
      expert: (e, x) => linear(wo[e], 0, s.d, linear(wi[e], 0, s.f, x, s.d).map(ACT2FN[s.hiddenAct ?? 'relu']), s.f),
    };
  },
};

const SHAPES: { name: string; sizes: Sizes }[] = [
  { name: 'odd sizes', sizes: { d: 13, f: 7, E: 6, k: 2, T: 9 } },
  { name: 'T = 1', sizes: { d: 10, f: 5, E: 6, k: 3, T: 1 } },
  { name: 'k = E', sizes: { d: 9, f: 11, E: 4, k: 4, T: 6 } },
];

function build(family: string, shape: Sizes, naming: 'fused' | 'per-expert', seed: number): Built & { seed: number } {
  for (let attempt = 0; ; attempt++) {
    const s = seed * 1000 + attempt;
    const next = rng(s);
    const b = BUILDERS[family](next, shape, naming);
    const hidden = randomArray(next, shape.T * shape.d, 1);
    const expected = denseOutput(shape.T, shape.d, hidden, b.route, b.expert, b.shared);
    if (expected.margin > MIN_MARGIN || attempt > 50) {
      return { label: family, config: b.config, tensors: b.tensors, sequenceLength: b.sequenceLength, T: shape.T, d: shape.d, hidden, expected, seed: s };
    }
  }
}

/** fromHuggingFace on the reference path against the dense f64 output, within OUTPUT_TOLERANCE of its largest entry. */
async function expectDenseOutput(b: Built & { seed: number }): Promise<void> {
  expect(b.expected.margin, `seed ${b.seed}: selection margin`).toBeGreaterThan(MIN_MARGIN);
  const prefix = 'model.layers.0.mlp.';
  const tensors = Object.fromEntries(Object.entries(b.tensors).map(([n, t]) => [prefix + n, t]));
  const moe = await fromHuggingFace({ config: b.config, tensors, prefix }, { backend: 'reference' });
  const { output } = await moe.forward(b.hidden, { tokens: b.T, sequenceLength: b.sequenceLength });
  moe.destroy();
  let norm = 1e-6;
  let worst = 0;
  for (let j = 0; j < output.length; j++) {
    norm = Math.max(norm, Math.abs(b.expected.output[j]));
    worst = Math.max(worst, Math.abs(output[j] - b.expected.output[j]));
  }
  expect(worst / norm, `seed ${b.seed}`).toBeLessThanOrEqual(OUTPUT_TOLERANCE);
}

const PER_EXPERT_FAMILIES = new Set(['mixtral', 'olmoe', 'qwen2_moe', 'qwen3_moe', 'deepseek_v3']);

describe('families on random configs vs a dense f64 computation from the Hugging Face layouts', () => {
  for (const family of Object.keys(BUILDERS)) {
    for (const naming of PER_EXPERT_FAMILIES.has(family) ? (['fused', 'per-expert'] as const) : (['fused'] as const)) {
      SHAPES.forEach(({ name, sizes }, i) => {
        it(`${family} (${naming} names), ${name}: d${sizes.d} f${sizes.f} E${sizes.E} k${family === 'switch_transformers' ? 1 : sizes.k} T${sizes.T}`, async () => {
          await expectDenseOutput(build(family, sizes, naming, 17 + i));
        });
      });
    }
  }
});

// transformers runs ACT2FN[hidden_act] on the gate of the routed and shared experts (and Switch's
// ACT2FN[dense_act_fn] in its dense experts): GELU is GeGLU, 'swish' is SiLU.
describe('the experts\' activation from hidden_act / dense_act_fn, as ACT2FN names it', () => {
  const GATED = ['mixtral', 'olmoe', 'qwen3_moe', 'qwen2_moe', 'deepseek_v3', 'granitemoe'];
  for (const family of [...GATED, 'switch_transformers']) {
    for (const hiddenAct of family === 'switch_transformers' ? ['gelu', 'swish', 'silu'] : ['gelu', 'swish']) {
      it(`${family}, ${family === 'switch_transformers' ? 'dense_act_fn' : 'hidden_act'} '${hiddenAct}'`, async () => {
        await expectDenseOutput(build(family, { ...SHAPES[0].sizes, hiddenAct }, 'fused', 29));
      });
    }
  }

  it('Switch ignores feed_forward_proj (T5\'s field, unread by SwitchTransformersConfig): ReLU without dense_act_fn', async () => {
    const b = build('switch_transformers', SHAPES[0].sizes, 'fused', 31);
    await expectDenseOutput({ ...b, config: { ...b.config, feed_forward_proj: 'gelu' } });
  });
});

describe('Switch capacity', () => {
  it('expert_capacity 0 drops every token: the output is zeros, as transformers gives', async () => {
    const b = build('switch_transformers', SHAPES[0].sizes, 'fused', 37);
    await expectDenseOutput({ ...b, config: { ...b.config, expert_capacity: 0 }, expected: { ...b.expected, output: new Float64Array(b.T * b.d) } });
  });
});

describe('family configs', () => {

  it('a value the block cannot hold is refused under the checkpoint\'s field, not the canonical name', () => {
    const ds = build('deepseek_v3', { d: 8, f: 4, E: 16, k: 2, T: 3 }, 'fused', 5);
    // Finite as a double, ∞ in f32, where the block computes.
    expect(code(() => huggingFaceToCanonical({ config: { ...ds.config, routed_scaling_factor: 1e39 }, tensors: ds.tensors })))
      .toEqual(['config', 'config.routed_scaling_factor']);
    for (const [family, field] of [['mixtral', 'num_local_experts'], ['qwen2_moe', 'num_experts'], ['deepseek_v3', 'n_routed_experts'], ['switch_transformers', 'num_experts']]) {
      const b = build(family, SHAPES[0].sizes, 'fused', 1);
      expect(code(() => huggingFaceToCanonical({ config: { ...b.config, [field]: 2 ** 20 + 1 }, tensors: b.tensors })), family).toEqual(['config', `config.${field}`]);
    }
  });

  it('a missing required field is a config error naming it, per family', () => {
    const required: Record<string, string[]> = {
      qwen2_moe: ['hidden_size', 'moe_intermediate_size', 'num_experts', 'num_experts_per_tok'],
      qwen3_moe: ['hidden_size', 'moe_intermediate_size', 'num_experts', 'num_experts_per_tok'],
      olmoe: ['hidden_size', 'intermediate_size', 'num_experts', 'num_experts_per_tok'],
      deepseek_v3: ['hidden_size', 'moe_intermediate_size', 'n_routed_experts', 'num_experts_per_tok'],
      switch_transformers: ['d_model', 'd_ff', 'num_experts'],
      gpt_oss: ['hidden_size', 'intermediate_size', 'num_local_experts', 'num_experts_per_tok'],
      granitemoe: ['hidden_size', 'intermediate_size', 'num_local_experts', 'num_experts_per_tok'],
    };
    for (const [family, fields] of Object.entries(required)) {
      const b = build(family, SHAPES[0].sizes, 'fused', 1);
      for (const field of fields) {
        const { [field]: _, ...config } = b.config;
        expect(code(() => huggingFaceToCanonical({ config, tensors: b.tensors })), `${family} without ${field}`).toEqual(['config', `config.${field}`]);
      }
    }
  });

  it('fields transformers defaults take its defaults: DeepSeek-V3 n_group 8 / topk_group 4, Qwen2-MoE shared width (0: none)', async () => {
    const ds = build('deepseek_v3', { d: 8, f: 4, E: 16, k: 2, T: 3 }, 'fused', 5);
    const { n_group: _g, topk_group: _t, ...bare } = ds.config;
    const spelled = huggingFaceToCanonical({ config: { ...bare, n_group: 8, topk_group: 4 }, tensors: ds.tensors }).config.router;
    expect(huggingFaceToCanonical({ config: bare, tensors: ds.tensors }).config.router).toEqual(spelled);
    const small = build('deepseek_v3', SHAPES[0].sizes, 'fused', 1); // E = 6: the default 8 groups do not divide it
    const { n_group: _g6, topk_group: _t6, ...bare6 } = small.config;
    expect(() => huggingFaceToCanonical({ config: bare6, tensors: small.tensors })).toThrow(/n_group.*default/);

    // A Qwen2-MoE block whose shared expert has width 0 adds nothing: it is the Qwen3-MoE block of its tensors.
    const q = build('qwen2_moe', SHAPES[0].sizes, 'fused', 3);
    const routed = Object.fromEntries(Object.entries(q.tensors).filter(([n]) => !n.startsWith('shared_expert')));
    const noShared = huggingFaceToCanonical({ config: { ...q.config, shared_expert_intermediate_size: 0 }, tensors: routed });
    expect(noShared.config.shared).toBeUndefined();
    const prefix = 'model.layers.0.mlp.';
    const named = Object.fromEntries(Object.entries(routed).map(([n, t]) => [prefix + n, t]));
    const forward = async (config: Record<string, unknown>) => {
      const moe = await fromHuggingFace({ config, tensors: named, prefix }, { backend: 'reference' });
      try {
        return (await moe.forward(q.hidden, { tokens: q.T })).output;
      } finally {
        moe.destroy();
      }
    };
    const { shared_expert_intermediate_size: _s, ...qwen3 } = q.config;
    expect(await forward({ ...q.config, shared_expert_intermediate_size: 0 })).toEqual(await forward({ ...qwen3, model_type: 'qwen3_moe' }));

    // A shared expert whose width came from the default, not from config.json: its shape error says so.
    const defaulted = (() => { try { huggingFaceToCanonical({ config: qwen3, tensors: q.tensors }); } catch (e) { return e as SwitchyardError; } })();
    expect(defaulted).toMatchObject({ code: 'shape', argument: 'shared_expert.gate_proj.weight' });
    expect(defaulted!.message).toMatch(/expected \[5632, \d+\].*config\.json has no shared_expert_intermediate_size, so its size came from transformers' default 5632/);
    // DeepSeek-V3's shared width is n_shared_experts × moe_intermediate_size; these tensors hold two.
    const { n_shared_experts: _n, ...dsBare } = ds.config;
    const refusal = (config: Record<string, unknown>) => { try { huggingFaceToCanonical({ config, tensors: ds.tensors }); } catch (e) { return e as SwitchyardError; } };
    expect(refusal(dsBare)?.message).toContain("config.json has no n_shared_experts, so its size came from transformers' default 1");
    expect(refusal({ ...dsBare, n_shared_experts: 3 })?.message, 'a width config.json gives is not blamed on a default').not.toContain('default');
    expect(refusal({ ...dsBare, n_shared_experts: 2 })).toBeUndefined();
  });

  it('a prefix naming a layer config.json makes dense, or one past its layers, is a config error saying so, when the block is not there', () => {
    const dense = { 'gate_proj.weight': new Float32Array(4), 'up_proj.weight': new Float32Array(4), 'down_proj.weight': new Float32Array(4) };
    const under = (prefix: string) => Object.fromEntries(Object.entries(dense).map(([n, t]) => [prefix + n, t]));
    const ds = build('deepseek_v3', SHAPES[0].sizes, 'fused', 1);
    const config = { ...ds.config, num_hidden_layers: 6, first_k_dense_replace: 2 };
    const prefix = 'model.layers.1.mlp.';
    expect(() => huggingFaceToCanonical({ config, tensors: under(prefix), prefix })).toThrow(/layer 1, which config.json makes a dense MLP \(its MoE layers: 2, 3, 4, 5/);
    expect(code(() => huggingFaceToCanonical({ config, tensors: under(prefix), prefix }))).toEqual(['config', 'prefix']);
    const q = build('qwen2_moe', SHAPES[0].sizes, 'fused', 1);
    const qConfig = { ...q.config, num_hidden_layers: 3, mlp_only_layers: [0] };
    expect(code(() => huggingFaceToCanonical({ config: qConfig, tensors: under('model.layers.0.mlp.'), prefix: 'model.layers.0.mlp.' }))).toEqual(['config', 'prefix']);
    // Without a layer count the config cannot tell: the missing tensor is reported as before.
    expect(code(() => huggingFaceToCanonical({ config: ds.config, tensors: under(prefix), prefix }))?.[0]).toBe('shape');
    // A layer past the config's count: the prefix is refused, saying how many layers there are.
    const m = build('mixtral', SHAPES[0].sizes, 'fused', 1);
    const past = () => huggingFaceToCanonical({ config: { ...m.config, num_hidden_layers: 3 }, tensors: {}, prefix: 'model.layers.7.block_sparse_moe.' });
    expect(code(past)).toEqual(['config', 'prefix']);
    expect(past).toThrow(/layer 7, past the 3 layers config.json gives \(its MoE layers: 0, 1, 2/);
    // A MoE layer's own missing tensor is still a shape error naming it.
    expect(code(() => huggingFaceToCanonical({ config, tensors: under('model.layers.3.mlp.'), prefix: 'model.layers.3.mlp.' }))?.[0]).toBe('shape');
  });

  it('a checkpoint tensor that is not one is a dtype error naming it, as in createMoE', () => {
    const m = build('mixtral', SHAPES[0].sizes, 'fused', 1);
    for (const bad of [new Float64Array(3), [1, 2], null, new Int32Array(3), 7]) {
      expect(code(() => huggingFaceToCanonical({ config: m.config, tensors: { ...m.tensors, 'gate.weight': bad as never } }))).toEqual(['dtype', 'gate.weight']);
    }
    expect(code(() => huggingFaceToCanonical({ config: m.config, tensors: { ...m.tensors, 'gate.weight': { dtype: 'f32', data: new Float32Array(3) } as never } }))).toEqual(['shape', 'gate.weight']);
  });

  it('refuses what the families cannot honour, naming the field', () => {
    const ds = build('deepseek_v3', SHAPES[0].sizes, 'fused', 1);
    expect(code(() => huggingFaceToCanonical({ config: { ...ds.config, n_group: 4 }, tensors: ds.tensors }))).toEqual(['config', 'config.n_group']);
    expect(code(() => huggingFaceToCanonical({ config: { ...ds.config, topk_group: 9 }, tensors: ds.tensors }))).toEqual(['config', 'config.topk_group']);
    expect(code(() => huggingFaceToCanonical({ config: { ...ds.config, scoring_func: 'softmax' }, tensors: ds.tensors }))).toEqual(['config', 'config.scoring_func']);
    const sw = build('switch_transformers', SHAPES[0].sizes, 'fused', 1);
    expect(code(() => huggingFaceToCanonical({ config: { ...sw.config, dense_act_fn: 'gelu_new' }, tensors: sw.tensors }))).toEqual(['config', 'config.dense_act_fn']);
    // The tanh approximations of GELU are not GELU: refused rather than run as the exact form.
    expect(code(() => huggingFaceToCanonical({ config: { ...ds.config, hidden_act: 'gelu_new' }, tensors: ds.tensors }))).toEqual(['config', 'config.hidden_act']);
    const q = build('qwen3_moe', SHAPES[0].sizes, 'fused', 1);
    expect(code(() => huggingFaceToCanonical({ config: { ...q.config, num_experts_per_tok: 7 }, tensors: q.tensors }))).toEqual(['config', 'config.num_experts_per_tok']);
    expect(code(() => huggingFaceToCanonical({ config: { ...q.config, norm_topk_prob: 'yes' }, tensors: q.tensors }))).toEqual(['config', 'config.norm_topk_prob']);
    expect(code(() => huggingFaceToCanonical({ config: { ...q.config, model_type: 'qwen9' }, tensors: q.tensors }))).toEqual(['config', 'config.model_type']);
    // Per-expert tensors: the stack's size is backed by the expert tensors themselves. A router of 10⁵
    // experts (its data present) and a config claiming dFF 14336 used to size a stack 14336× the router
    // before any expert tensor was read (a RangeError here, gigabytes elsewhere): now expert 0's shape fails.
    const m = build('mixtral', SHAPES[0].sizes, 'per-expert', 1);
    const E = 100_000;
    const d = SHAPES[0].sizes.d;
    const hostile = { ...m.config, num_local_experts: E, intermediate_size: 14336 };
    expect(code(() => huggingFaceToCanonical({ config: hostile, tensors: { ...m.tensors, 'gate.weight': new Float32Array(E * d) } })))
      .toEqual(['shape', 'experts.0.w1.weight']);
    // MXFP4 experts need whole blocks of 32 inputs (mxfp4.test.ts has the rest of their checks).
    const g = build('gpt_oss', SHAPES[0].sizes, 'fused', 1);
    const { 'experts.gate_up_proj': _, ...mxfp4 } = g.tensors;
    expect(SHAPES[0].sizes.d % 32).not.toBe(0);
    expect(code(() => huggingFaceToCanonical({ config: g.config, tensors: { ...mxfp4, 'experts.gate_up_proj_blocks': new Float32Array(1) } }))).toEqual(['shape', 'experts.gate_up_proj_blocks']);
  });
});

describe('moeLayers', () => {
  it('every layer for Mixtral, OLMoE, GPT-OSS and Granite; none in an encoder', () => {
    for (const model_type of ['mixtral', 'olmoe', 'gpt_oss', 'granitemoe']) {
      expect(moeLayers({ model_type, num_hidden_layers: 4 })).toEqual([0, 1, 2, 3]);
      expect(moeLayers({ model_type, num_hidden_layers: 4 }, { stack: 'encoder' })).toEqual([]);
    }
    expect(code(() => moeLayers({ model_type: 'mixtral' }))).toEqual(['config', 'config.num_hidden_layers']);
  });

  it('Qwen: (i + 1) % decoder_sparse_step == 0 outside mlp_only_layers', () => {
    for (const model_type of ['qwen2_moe', 'qwen3_moe']) {
      expect(moeLayers({ model_type, num_hidden_layers: 6, num_experts: 4 })).toEqual([0, 1, 2, 3, 4, 5]);
      expect(moeLayers({ model_type, num_hidden_layers: 6, num_experts: 4, decoder_sparse_step: 2, mlp_only_layers: [3] })).toEqual([1, 5]);
      expect(moeLayers({ model_type, num_hidden_layers: 6, num_experts: 0 })).toEqual([]);
    }
  });

  it('DeepSeek-V3: from first_k_dense_replace, every moe_layer_freq', () => {
    expect(moeLayers({ model_type: 'deepseek_v3', num_hidden_layers: 61, first_k_dense_replace: 3 })).toEqual(Array.from({ length: 58 }, (_, i) => i + 3));
    expect(moeLayers({ model_type: 'deepseek_v3', num_hidden_layers: 8, first_k_dense_replace: 1, moe_layer_freq: 2 })).toEqual([2, 4, 6]);
  });

  it('Switch: encoder and decoder blocks by their sparse steps (switch-base-8: every other block)', () => {
    const base8 = { model_type: 'switch_transformers', num_layers: 12, num_sparse_encoder_layers: 6, num_decoder_layers: 12, num_sparse_decoder_layers: 6 };
    expect(moeLayers(base8, { stack: 'encoder' })).toEqual([1, 3, 5, 7, 9, 11]);
    expect(moeLayers(base8)).toEqual([1, 3, 5, 7, 9, 11]);
    expect(moeLayers({ ...base8, encoder_sparse_step: 1, decoder_sparse_step: 0 }, { stack: 'encoder' })).toHaveLength(12);
    expect(moeLayers({ ...base8, encoder_sparse_step: 1, decoder_sparse_step: 0 })).toEqual([]);
    expect(moeLayers({ ...base8, num_sparse_encoder_layers: 4 }, { stack: 'encoder' })).toEqual([1, 4, 7, 10]);
  });

  // A config.json is a file from the internet: a layer count no model has is refused before anything counts to it.
  it('refuses layer counts beyond 65536 in every family (a hostile config must not hang the count)', () => {
    const huge = 1e15;
    for (const model_type of ['mixtral', 'olmoe', 'gpt_oss', 'granitemoe']) {
      expect(code(() => moeLayers({ model_type, num_hidden_layers: huge }))).toEqual(['config', 'config.num_hidden_layers']);
    }
    expect(code(() => moeLayers({ model_type: 'qwen2_moe', num_hidden_layers: huge, num_experts: 4 }))).toEqual(['config', 'config.num_hidden_layers']);
    expect(code(() => moeLayers({ model_type: 'deepseek_v3', num_hidden_layers: huge }))).toEqual(['config', 'config.num_hidden_layers']);
    expect(code(() => moeLayers({ model_type: 'switch_transformers', num_layers: huge }, { stack: 'encoder' }))).toEqual(['config', 'config.num_layers']);
    expect(code(() => moeLayers({ model_type: 'switch_transformers', num_decoder_layers: huge }))).toEqual(['config', 'config.num_decoder_layers']);
    expect(moeLayers({ model_type: 'mixtral', num_hidden_layers: 65536 })).toHaveLength(65536);
  });

});
