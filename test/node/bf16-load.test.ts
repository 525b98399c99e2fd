// bf16 / f16 checkpoint layers on the wasm path: their expert projections stay bits until packed, and bf16
// ones are widened in the module (assembly/ffn/widen.ts) a run of rows at a time. The block must compute
// exactly what it computes from the same weights given as f32 arrays (decoded here value by value), at f32,
// f16 and int8 storage — per-expert names, the fused gate/up form and Granite's input_linear, with row
// lengths off the SIMD width (a scalar tail) and shapes that pack in several chunks.
import { describe, expect, it } from 'vitest';
import { createMoE, fromHuggingFace } from '../../ts/entry/node.js';
import { decodeBf16, decodeF16 } from '../../ts/formats/dtype.js';
import { rng } from '../cases/rng.js';

/** Random 16-bit floats of moderate size: sign, exponent 2^-6 … 2^1, any mantissa. */
function bits(seed: number, n: number, dtype: 'bf16' | 'f16'): Uint16Array {
  const next = rng(seed);
  return Uint16Array.from({ length: n }, () => {
    const sign = next() < 0.5 ? 0x8000 : 0;
    return dtype === 'bf16'
      ? sign | ((121 + Math.floor(next() * 8)) << 7) | Math.floor(next() * 128)
      : sign | ((9 + Math.floor(next() * 8)) << 10) | Math.floor(next() * 1024);
  });
}

describe('bf16 / f16 checkpoint layers on wasm', () => {
  for (const [E, d, f] of [[3, 37, 23], [2, 600, 100]] as const) {
    for (const dtype of ['bf16', 'f16'] as const) {
      it(`E${E} d${d} f${f} ${dtype}: as from the decoded f32 weights, f32 / f16 / int8`, async () => {
        const decode = (b: Uint16Array) => Float32Array.from(b, dtype === 'bf16' ? decodeBf16 : decodeF16);
        const seed = E * 1000 + d + (dtype === 'f16' ? 7 : 0);
        const router = bits(seed, E * d, dtype);
        const gate = bits(seed + 1, E * f * d, dtype);
        const up = bits(seed + 2, E * f * d, dtype);
        const down = bits(seed + 3, E * d * f, dtype);
        const t = (data: Uint16Array, shape: number[]) => ({ dtype, shape, data });
        const perExpert: Record<string, ReturnType<typeof t>> = { 'gate.weight': t(router, [E, d]) };
        const fused = new Uint16Array(2 * E * f * d);
        for (let e = 0; e < E; e++) {
          const slab = (a: Uint16Array) => a.slice(e * f * d, (e + 1) * f * d);
          perExpert[`experts.${e}.w1.weight`] = t(slab(gate), [f, d]);
          perExpert[`experts.${e}.w3.weight`] = t(slab(up), [f, d]);
          perExpert[`experts.${e}.w2.weight`] = t(down.slice(e * d * f, (e + 1) * d * f), [d, f]);
          fused.set(slab(gate), 2 * e * f * d);
          fused.set(slab(up), (2 * e + 1) * f * d);
        }
        const mixtral = { model_type: 'mixtral', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 };
        const granite = { model_type: 'granitemoe', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: 2 };
        const layers = [
          { config: mixtral, tensors: perExpert },
          { config: mixtral, tensors: { 'gate.weight': t(router, [E, d]), 'experts.gate_up_proj': t(fused, [E, 2 * f, d]), 'experts.down_proj': t(down, [E, d, f]) } },
          { config: granite, tensors: { 'router.layer.weight': t(router, [E, d]), 'input_linear.weight': t(fused, [E, 2 * f, d]), 'output_linear.weight': t(down, [E, d, f]) } },
        ];
        const hidden = Float32Array.from({ length: 5 * d }, (_, i) => Math.sin(i * 0.7));
        for (const weightDtype of ['f32', 'f16', 'int8'] as const) {
          const options = { backend: 'wasm' as const, weightDtype };
          for (const [i, layer] of layers.entries()) {
            const fromBits = await fromHuggingFace(layer, options);
            const dense = await createMoE(
              { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2, normalize: true }, expert: { dFF: f, activation: 'swiglu' } },
              { 'router.weight': decode(router), 'experts.gate': decode(gate), 'experts.up': decode(up), 'experts.down': decode(down) }, options);
            const a = await fromBits.forward(hidden, { tokens: 5 });
            const b = await dense.forward(hidden, { tokens: 5 });
            expect(a.routing.indices, `${weightDtype} layer ${i}`).toEqual(b.routing.indices);
            expect(a.output, `${weightDtype} layer ${i}`).toEqual(b.output);
            fromBits.destroy();
            dense.destroy();
          }
        }
      });
    }
  }
});
