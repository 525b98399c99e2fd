// Bad input through the public API: each must raise SwitchyardError with a stable code and the name of
// the argument at fault — never NaN output, garbage or a crash.
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

type Api = CaseContext['api'];

async function expectError(ctx: CaseContext, code: string, argument: string, action: () => Promise<unknown> | unknown): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof ctx.api.SwitchyardError)) {
    throw new CaseFailure(`expected SwitchyardError(${code}, ${argument}), got ${caught === undefined ? 'no error' : String(caught)}`);
  }
  if (caught.code !== code || caught.argument !== argument) {
    throw new CaseFailure(`expected SwitchyardError(${code}, ${argument}), got (${caught.code}, ${caught.argument}): ${caught.message}`);
  }
  if (!caught.message.includes(argument)) throw new CaseFailure(`message does not name ${argument}: ${caught.message}`);
}

const E = 4;
const d = 6;
const f = 5;
const spec = { kind: 'topk' as const, numExperts: E, topK: 2 };
const config = { dModel: d, router: spec, expert: { dFF: f, activation: 'swiglu' as const } };
function weights(): Record<string, Float32Array> {
  return {
    'router.weight': new Float32Array(E * d).fill(0.1),
    'experts.gate': new Float32Array(E * f * d).fill(0.1),
    'experts.up': new Float32Array(E * f * d).fill(0.1),
    'experts.down': new Float32Array(E * d * f).fill(0.1),
  };
}

interface BadInput {
  name: string;
  code: string;
  argument: string;
  action: (api: Api, backend: CaseContext['backend']) => Promise<unknown>;
  /** Default: every path. */
  backends?: readonly CaseContext['backend'][];
}

/** weights() with one expert weight set to `value`, for the reduced weight formats' range checks. */
function withWeight(name: string, value: number): Record<string, Float32Array> {
  const w = weights();
  w[name][3] = value;
  return w;
}

/** weights() plus a shared expert whose down projection holds `value`. */
function withShared(value: number): Record<string, Float32Array> {
  const down = new Float32Array(d * f).fill(0.1);
  down[3] = value;
  return { ...weights(), 'shared.gate': new Float32Array(f * d).fill(0.1), 'shared.up': new Float32Array(f * d).fill(0.1), 'shared.down': down };
}

const BAD: BadInput[] = [
  { name: 'logits of the wrong length', code: 'shape', argument: 'input.logits',
    action: (api, backend) => api.route(spec, { tokens: 3, logits: new Float32Array(3 * E - 1) }, { backend }) },
  { name: 'k > E', code: 'range', argument: 'spec.topK',
    action: (api, backend) => api.route({ ...spec, topK: E + 1 }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'expert choice with topK ≠ E', code: 'config', argument: 'spec.topK',
    action: (api, backend) => api.route({ kind: 'expert-choice', numExperts: E, topK: 2, capacityFactor: 1 }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'non-integer token count', code: 'range', argument: 'input.tokens',
    action: (api, backend) => api.route(spec, { tokens: 2.5, logits: new Float32Array(10) }, { backend }) },
  { name: 'NaN in logits', code: 'range', argument: 'input.logits',
    action: (api, backend) => api.route(spec, { tokens: 1, logits: Float32Array.of(0, NaN, 1, 2) }, { backend }) },
  { name: 'unknown router kind', code: 'config', argument: 'spec.kind',
    action: (api, backend) => api.route({ ...spec, kind: 'bogus' } as never, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'groups not dividing E', code: 'config', argument: 'spec.groups.count',
    action: (api, backend) => api.route({ ...spec, groups: { count: 3, topk: 1 } }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'groups.topk > groups.count', code: 'config', argument: 'spec.groups.topk',
    action: (api, backend) => api.route({ ...spec, groups: { count: 2, topk: 3 } }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'capacity factor ≤ 0', code: 'range', argument: 'spec.capacity.factor',
    action: (api, backend) => api.route({ ...spec, capacity: { factor: 0 } }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'capacity perExpert ≤ 0', code: 'range', argument: 'spec.capacity.perExpert',
    action: (api, backend) => api.route({ ...spec, capacity: { perExpert: -2 } }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'hash table not [vocab, k]', code: 'shape', argument: 'spec.table',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 2, table: Int32Array.of(0, 1, 2) }, { tokens: 1, tokenIds: Int32Array.of(0) }, { backend }) },
  { name: 'token id beyond the hash table', code: 'range', argument: 'input.tokenIds',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 1, table: Int32Array.of(0, 1, 2) }, { tokens: 2, tokenIds: Int32Array.of(1, 3) }, { backend }) },
  { name: 'negative token id', code: 'range', argument: 'input.tokenIds',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 1 }, { tokens: 1, tokenIds: Int32Array.of(-1) }, { backend }) },
  { name: 'hash router without token ids', code: 'shape', argument: 'input.tokenIds',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 1 }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'self router offset + E > d', code: 'range', argument: 'spec.offset',
    action: (api, backend) => api.route({ kind: 'self', numExperts: E, topK: 1, offset: d - E + 1 }, { tokens: 1, hidden: new Float32Array(d) }, { backend }) },
  { name: 'self router without offset on a hidden state narrower than E', code: 'shape', argument: 'input.hidden',
    action: (api, backend) => api.route({ kind: 'self', numExperts: E, topK: 1 }, { tokens: 1, hidden: new Float32Array(E - 1) }, { backend }) },
  { name: 'router weight of the wrong length', code: 'shape', argument: 'input.weight',
    action: (api, backend) => api.route(spec, { tokens: 2, hidden: new Float32Array(2 * d), weight: new Float32Array(E * d + 1) }, { backend }) },
  { name: 'hidden not a Float32Array', code: 'dtype', argument: 'input.hidden',
    action: (api, backend) => api.route(spec, { tokens: 2, hidden: new Float64Array(2 * d) as never, weight: new Float32Array(E * d) }, { backend }) },
  { name: 'hidden without a router weight', code: 'shape', argument: 'input.weight',
    action: (api, backend) => api.route(spec, { tokens: 2, hidden: new Float32Array(2 * d) }, { backend }) },
  { name: 'token ids not an Int32Array', code: 'dtype', argument: 'input.tokenIds',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 1 }, { tokens: 1, tokenIds: Float32Array.of(0) as never }, { backend }) },
  { name: 'hash table not an Int32Array', code: 'dtype', argument: 'spec.table',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 1, table: Uint32Array.of(0, 1) as never }, { tokens: 1, tokenIds: Int32Array.of(0) }, { backend }) },
  { name: 'NaN in selectionBias', code: 'range', argument: 'spec.selectionBias',
    action: (api, backend) => api.route({ ...spec, selectionBias: Float32Array.of(0, NaN, 0, 0) }, { tokens: 1, logits: new Float32Array(E) }, { backend }) },
  { name: 'finite hidden whose logits overflow f32', code: 'range', argument: 'input.hidden',
    action: (api, backend) => api.route(spec, { tokens: 1, hidden: new Float32Array(d).fill(3e38), weight: new Float32Array(E * d).fill(1) }, { backend }) },
  { name: 'self router logits overflowing f32', code: 'range', argument: 'input.hidden',
    action: (api, backend) => api.route({ kind: 'self', numExperts: E, topK: 1, temperature: 1e-30 }, { tokens: 1, hidden: new Float32Array(d).fill(1e10) }, { backend }) },
  { name: 'self router logits overflowing f32, with logits given beside (which it does not read)', code: 'range', argument: 'input.hidden',
    action: (api, backend) => api.route({ kind: 'self', numExperts: E, topK: 1, temperature: 1e-30 }, { tokens: 1, hidden: new Float32Array(d).fill(1e10), logits: new Float32Array(E) }, { backend }) },
  { name: 'a scale beyond f32 (the GPU router holds it as one)', code: 'range', argument: 'spec.scale',
    action: (api, backend) => api.route({ ...spec, scale: 1e39 }, { tokens: 2, logits: new Float32Array(2 * E) }, { backend }) },
  { name: 'an f32 scale that takes unnormalised sqrt-softplus weights past f32', code: 'range', argument: 'spec.scale',
    action: (api, backend) => api.route({ ...spec, score: 'sqrt-softplus', scale: 1e20 }, { tokens: 2, logits: new Float32Array(2 * E).fill(3e38) }, { backend }) },
  { name: 'a finite scale that takes the hash layer\'s score weights past f32', code: 'range', argument: 'spec.scale',
    action: (api, backend) => api.route({ kind: 'hash', numExperts: E, topK: 2, weights: 'scores', scale: -3e39 }, { tokens: 2, tokenIds: Int32Array.of(3, 9), logits: new Float32Array(2 * E) }, { backend }) },
  { name: 'more experts than any router keeps dense scores for', code: 'range', argument: 'spec.numExperts',
    action: (api, backend) => api.route({ kind: 'random', numExperts: 2 ** 20 + 1, topK: 1 }, { tokens: 1 }, { backend }) },
  { name: 'tokens × experts past the dense scores of one call', code: 'limits', argument: 'input.tokens',
    action: (api, backend) => api.route({ kind: 'random', numExperts: 2 ** 20, topK: 1 }, { tokens: 129 }, { backend }) },
  { name: 'non-integer dModel', code: 'range', argument: 'config.dModel',
    action: (api, backend) => api.createMoE({ ...config, dModel: 6.5 }, weights(), { backend }) },
  { name: 'self router block without offset whose dModel is below E', code: 'range', argument: 'config.dModel',
    action: (api, backend) => api.createMoE({ dModel: E - 1, router: { kind: 'self', numExperts: E, topK: 1 }, expert: { dFF: 2, activation: 'relu' } },
      { 'experts.up': new Float32Array(E * 2 * (E - 1)), 'experts.down': new Float32Array(E * (E - 1) * 2) }, { backend }) },
  { name: 'missing expert weight', code: 'shape', argument: "weights['experts.up']",
    action: (api, backend) => { const w = weights(); delete (w as Record<string, unknown>)['experts.up']; return api.createMoE(config, w, { backend }); } },
  { name: 'misshapen expert weight', code: 'shape', argument: "weights['experts.gate']",
    action: (api, backend) => api.createMoE(config, { ...weights(), 'experts.gate': { dtype: 'f32', shape: [E, d, f], data: new Float32Array(E * f * d) } }, { backend }) },
  { name: 'expert weight of another element type', code: 'dtype', argument: "weights['experts.up']",
    action: (api, backend) => api.createMoE(config, { ...weights(), 'experts.up': new Float64Array(E * f * d) as never }, { backend }) },
  { name: 'f16 weight whose data is a Float32Array', code: 'dtype', argument: "weights['experts.down']",
    action: (api, backend) => api.createMoE(config, { ...weights(), 'experts.down': { dtype: 'f16', shape: [E, d, f], data: new Float32Array(E * d * f) } }, { backend }) },
  // The fast paths' rules alike (the reference keeps f32): an f16 weight past 65504 is refused, not rounded
  // to it (WebGPU once rounded 65519 down while WASM refused it); an int8 weight whose block scale overflows
  // f16 (|w| > 127 · 65504) is refused, not turned into ∞ scales and NaN sums.
  { name: 'f16 weight between 65504 and the f16 overflow', code: 'range', argument: "weights['experts.down']", backends: ['wasm', 'webgpu'],
    action: (api, backend) => api.createMoE(config, withWeight('experts.down', 65519), { backend, weightDtype: 'f16' }) },
  { name: 'int8 weight whose f16 block scale overflows', code: 'range', argument: "weights['experts.down']", backends: ['wasm', 'webgpu'],
    action: (api, backend) => api.createMoE(config, withWeight('experts.down', 1e7), { backend, weightDtype: 'int8' }) },
  { name: 'f16 weight past 65504 in the shared expert (named as such)', code: 'range', argument: "weights['shared.down']", backends: ['wasm', 'webgpu'],
    action: (api, backend) => api.createMoE({ ...config, shared: { dFF: f } }, withShared(65519), { backend, weightDtype: 'f16' }) },
  { name: 'int8 weight past its scale in the shared expert (named as such)', code: 'range', argument: "weights['shared.down']", backends: ['wasm', 'webgpu'],
    action: (api, backend) => api.createMoE({ ...config, shared: { dFF: f } }, withShared(1e7), { backend, weightDtype: 'int8' }) },
  { name: 'NaN in hidden', code: 'range', argument: 'hidden',
    action: async (api, backend) => {
      const moe = await api.createMoE(config, weights(), { backend });
      try { return await moe.forward(new Float32Array(2 * d).fill(NaN), { tokens: 2 }); } finally { moe.destroy(); }
    } },
  { name: 'hidden of the wrong length', code: 'shape', argument: 'hidden',
    action: async (api, backend) => {
      const moe = await api.createMoE(config, weights(), { backend });
      try { return await moe.forward(new Float32Array(2 * d + 1), { tokens: 2 }); } finally { moe.destroy(); }
    } },
  { name: 'hidden not a Float32Array (forward)', code: 'dtype', argument: 'hidden',
    action: async (api, backend) => {
      const moe = await api.createMoE(config, weights(), { backend });
      try { return await moe.forward(new Float64Array(2 * d) as never, { tokens: 2 }); } finally { moe.destroy(); }
    } },
  // gate and up reach 6e29, their product 4e59: beyond f32 on every path (∞ on one, NaN on another).
  { name: 'finite hidden whose block output overflows f32', code: 'range', argument: 'hidden',
    action: async (api, backend) => {
      const moe = await api.createMoE(config, weights(), { backend });
      try { return await moe.forward(new Float32Array(2 * d).fill(1e30), { tokens: 2 }); } finally { moe.destroy(); }
    } },
  { name: 'a finite router scale that takes the weights past f32 (forward)', code: 'range', argument: 'config.router.scale',
    action: async (api, backend) => {
      const moe = await api.createMoE({ ...config, router: { ...spec, scale: 3e39 } }, weights(), { backend });
      try { return await moe.forward(new Float32Array(2 * d).fill(0.5), { tokens: 2 }); } finally { moe.destroy(); }
    } },
  { name: 'a device that is not a GPUDevice', code: 'config', argument: 'options.device',
    action: (api, backend) => api.createMoE(config, weights(), { backend, device: 42 as never }) },
  { name: 'a wasmModule that is not a compiled module', code: 'config', argument: 'options.wasmModule',
    action: (api, backend) => api.route(spec, { tokens: 1, logits: new Float32Array(E) }, { backend, wasmModule: new Uint8Array(8) as never }) },
  { name: 'truncated safetensors', code: 'range', argument: 'safetensors header',
    action: async (api) => api.readSafetensors(new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123])) },
];

export const badInputCases: ConformanceCase[] = BAD.map((b) => ({
  name: `bad input: ${b.name} → ${b.code} ${b.argument}`,
  backends: b.backends ?? (['reference', 'wasm', 'webgpu'] as const),
  run: (ctx: CaseContext) => expectError(ctx, b.code, b.argument, () => b.action(ctx.api, ctx.backend)),
}));
