// Sharded, per-expert-named, BF16 checkpoints written from the goldens' weights (Mixtral, Qwen2-MoE),
// loaded through files + model.safetensors.index.json on the reference path.
//
// Two checks per family:
// - exact: the sharded bf16 disk-name path gives bit-for-bit the output of the fused golden names with
//   every weight rounded to bf16 (bf16 → f32 widening is exact, and both run the same reference path);
// - against Hugging Face's f32 output: within BF16_OUTPUT_TOLERANCE. Rounding a weight to bf16 moves it
//   by ≤ 2⁻⁹ relative; over a dModel = 64 dot product and the SwiGLU the measured error is ~3e-3 of the
//   output's largest entry, so 1e-2 of it leaves margin while still catching a wrong layout (O(1)).
import { describe, expect, it } from 'vitest';
import { DeferredTensor } from '../../ts/formats/deferred-tensor.js';
import { expectCanonical } from './canonical-weights.js';
import { fromHuggingFace } from '../../ts/api/from-hugging-face.js';
import { SwitchyardError } from '../../ts/errors.js';
import { decodeBf16, encodeBf16 } from '../../ts/formats/dtype.js';
import { huggingFaceToCanonical } from '../../ts/formats/huggingface.js';
import { moeLayers, shardsForLayer } from '../../ts/formats/layers.js';
import { readSafetensors, type SafetensorsFile } from '../../ts/formats/safetensors.js';
import type { Tensor } from '../../ts/spec/types.js';
import { loadGolden, mixtralLayer, qwen2MoeLayer, shard, type Golden } from './huggingface-checkpoint.js';

const BF16_OUTPUT_TOLERANCE = 1e-2; // of max |expected output|, see above

function maxRelativeToNorm(got: Float32Array, want: Float32Array): number {
  let norm = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    norm = Math.max(norm, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  return worst / norm;
}

/** The golden's own tensors (fused names) with every float weight rounded to bf16 and widened back. */
function roundedGolden(g: Golden): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of g.file.tensors) {
    if (name.startsWith('expected.') || name.startsWith('input.') || t.dtype !== 'f32') continue;
    out.set(name, { dtype: 'f32', shape: t.shape, data: Float32Array.from(t.data as Float32Array, (x) => decodeBf16(encodeBf16(x))) });
  }
  return out;
}

interface Family {
  golden: string;
  layer: (g: Golden, layer: number, dtype: 'bf16') => Record<string, Tensor>;
  prefix: (layer: number) => string;
  extraConfig: Record<string, unknown>;
}

const FAMILIES: Family[] = [
  { golden: 'mixtral', layer: mixtralLayer, prefix: (l) => `model.layers.${l}.block_sparse_moe.`, extraConfig: { model_type: 'mixtral', num_hidden_layers: 2 } },
  { golden: 'qwen2_moe', layer: qwen2MoeLayer, prefix: (l) => `model.layers.${l}.mlp.`, extraConfig: { model_type: 'qwen2_moe', num_hidden_layers: 2, decoder_sparse_step: 1 } },
];

for (const fam of FAMILIES) {
  describe(`sharded bf16 ${fam.golden} checkpoint (per-expert names, 4 shards + index.json)`, () => {
    const g = loadGolden(fam.golden);
    const config = { ...g.caseJson.config, ...fam.extraConfig };
    const { T } = g.caseJson.shapes;
    // Two MoE layers; layer 1 is the golden. Layer 0 holds the same shapes, negated, so reading it instead
    // of layer 1 would change every output.
    const layer0 = Object.fromEntries(Object.entries(fam.layer(g, 0, 'bf16')).map(([n, t]) => [n, {
      ...t, data: Uint16Array.from(t.data as Uint16Array, (h) => h ^ 0x8000),
    }]));
    const { files: bytes, index } = shard({ ...layer0, ...fam.layer(g, 1, 'bf16') }, 4);
    const files: Record<string, SafetensorsFile> = Object.fromEntries(Object.entries(bytes).map(([n, b]) => [n, readSafetensors(b)]));
    const prefix = fam.prefix(1);

    it('finds both MoE layers, and the layer in only some of the shards', () => {
      expect(moeLayers(config)).toEqual([0, 1]);
      const needed = shardsForLayer(index, prefix);
      expect(needed.length).toBeGreaterThan(0);
      expect(needed.length).toBeLessThan(4);
    });

    it('equals the fused golden names on bf16-rounded weights bit for bit, given only the layer\'s shards', async () => {
      const needed = Object.fromEntries(shardsForLayer(index, prefix).map((n) => [n, files[n]]));
      const sharded = await fromHuggingFace({ config, files: needed, index, prefix }, { backend: 'reference' });
      const fused = await fromHuggingFace({ config, tensors: roundedGolden(g), modelType: fam.golden }, { backend: 'reference' });
      const hidden = g.f32('input.hidden');
      const a = await sharded.forward(hidden, { tokens: T });
      const b = await fused.forward(hidden, { tokens: T });
      expect(Array.from(a.routing.indices)).toEqual(Array.from(b.routing.indices));
      expect(new Uint32Array(a.output.buffer)).toEqual(new Uint32Array(b.output.buffer));
      sharded.destroy();
      fused.destroy();
    });

    it(`matches Hugging Face's f32 output within ${BF16_OUTPUT_TOLERANCE} of its norm`, async () => {
      const moe = await fromHuggingFace({ config, files, index, prefix }, { backend: 'reference' });
      const { output, routing } = await moe.forward(g.f32('input.hidden'), { tokens: T });
      expect(maxRelativeToNorm(output, g.f32('expected.output'))).toBeLessThanOrEqual(BF16_OUTPUT_TOLERANCE);
      // The goldens' top-k margins (≥ 2e-4 in probability) survive bf16 rounding of the router here.
      expect(Array.from(routing.indices)).toEqual(Array.from(g.i32('expected.topk_indices')));
      moe.destroy();
    });

    it('searches every file without an index', () => {
      const a = huggingFaceToCanonical({ config, files, prefix }).weights;
      const b = huggingFaceToCanonical({ config, files, index, prefix }).weights;
      // bf16 expert projections are deferred (read by rows when a path needs them): compared by their values.
      const values = (w: typeof a) => Object.fromEntries(Object.entries(w).map(([name, t]) => [name, t instanceof DeferredTensor ? t.values() : t]));
      expectCanonical(a, values(b));
    });

    it('names a shard the index wants but files lack', () => {
      const [first, ...rest] = shardsForLayer(index, prefix);
      const partial = Object.fromEntries([...rest].map((n) => [n, files[n]]));
      let caught: unknown;
      try {
        huggingFaceToCanonical({ config, files: partial, index, prefix });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(SwitchyardError);
      expect((caught as SwitchyardError).code).toBe('shape');
      expect((caught as Error).message).toContain(first);
    });

    it('refuses an index whose shard names leave the checkpoint directory', () => {
      const name = Object.keys(index.weight_map)[0];
      for (const file of ['../model.safetensors', '/etc/passwd', 'sub/../../x', '..\\x.safetensors', 'C:x', '..', '', 'a\0b']) {
        let caught: unknown;
        try {
          shardsForLayer({ weight_map: { ...index.weight_map, [name]: file } }, prefix);
        } catch (e) {
          caught = e;
        }
        expect(caught, file).toBeInstanceOf(SwitchyardError);
        expect((caught as SwitchyardError).code).toBe('range');
      }
      expect(shardsForLayer({ weight_map: { [name]: 'model-00001-of-00002.safetensors' } }, '').length).toBe(1);
    });

    it('takes a prefix as fromHuggingFace does: a string, its final "." added', () => {
      const map = { 'model.layers.3.mlp.gate.weight': 'a.safetensors', 'model.layers.30.mlp.gate.weight': 'b.safetensors', 'undefined.x': 'c.safetensors' };
      expect(shardsForLayer({ weight_map: map }, 'model.layers.3.mlp')).toEqual(['a.safetensors']);
      expect(shardsForLayer({ weight_map: map }, 'model.layers.3.mlp.')).toEqual(['a.safetensors']);
      for (const prefix of [undefined, null, 3, /model/]) {
        let caught: unknown;
        try {
          shardsForLayer({ weight_map: map }, prefix as never);
        } catch (e) {
          caught = e;
        }
        expect(caught, String(prefix)).toBeInstanceOf(SwitchyardError);
        expect((caught as SwitchyardError).argument).toBe('prefix');
      }
    });

    it('refuses tensors and files together, and an index without files', () => {
      expect(() => huggingFaceToCanonical({ config, tensors: files[Object.keys(files)[0]], files, prefix })).toThrow(SwitchyardError);
      expect(() => huggingFaceToCanonical({ config, tensors: g.file, index, prefix })).toThrow(SwitchyardError);
    });
  });
}
