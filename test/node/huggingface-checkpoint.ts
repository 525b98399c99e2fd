// Test helper: writes Hugging Face-style checkpoints (safetensors shards + model.safetensors.index.json +
// config.json) from the goldens' weights, under the per-expert names checkpoints use on disk.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { f32ToBf16, toFloat32 } from '../../ts/formats/dtype.js';
import { readSafetensors, type SafetensorsFile } from '../../ts/formats/safetensors.js';
import type { RawTensor, Tensor } from '../../ts/spec/types.js';
import { GOLDENS_DIR } from './goldens-dir.js';

export interface Golden {
  caseJson: { family: string; config: Record<string, unknown>; shapes: Record<string, number> };
  file: SafetensorsFile;
  f32(name: string): Float32Array;
  i32(name: string): Int32Array;
}

export function loadGolden(name: string): Golden {
  const file = readSafetensors(new Uint8Array(readFileSync(new URL(`${name}/tensors.safetensors`, GOLDENS_DIR))));
  const caseJson = JSON.parse(readFileSync(new URL(`${name}/case.json`, GOLDENS_DIR), 'utf8')) as Golden['caseJson'];
  return {
    caseJson,
    file,
    f32: (n) => toFloat32(file.tensors.get(n)!, n),
    i32: (n) => file.tensors.get(n)!.data as Int32Array,
  };
}

/** A minimal safetensors writer: tensors contiguous in the given order, header padded to 8 bytes. */
export function writeSafetensors(tensors: Record<string, Tensor | RawTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype.toUpperCase(), shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + jsonBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let at = 8 + jsonBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export type Encoding = 'f32' | 'bf16';

export function tensor(values: Float32Array, shape: number[], dtype: Encoding): Tensor {
  return { dtype, shape, data: dtype === 'bf16' ? f32ToBf16(values) : values };
}

/** A fused gate-first [E, 2·dFF, d] tensor split into per-expert gate / up [dFF, d] and down [d, dFF]. */
export function perExpertSwiglu(
  prefix: string, gateUp: Float32Array, down: Float32Array, E: number, dFF: number, d: number,
  names: readonly [string, string, string], dtype: Encoding,
): Record<string, Tensor> {
  const slab = dFF * d;
  const out: Record<string, Tensor> = {};
  for (let e = 0; e < E; e++) {
    out[`${prefix}experts.${e}.${names[0]}.weight`] = tensor(gateUp.slice(2 * e * slab, (2 * e + 1) * slab), [dFF, d], dtype);
    out[`${prefix}experts.${e}.${names[1]}.weight`] = tensor(gateUp.slice((2 * e + 1) * slab, (2 * e + 2) * slab), [dFF, d], dtype);
    out[`${prefix}experts.${e}.${names[2]}.weight`] = tensor(down.slice(e * slab, (e + 1) * slab), [d, dFF], dtype);
  }
  return out;
}

/** One MoE layer of the mixtral golden under its on-disk names. */
export function mixtralLayer(g: Golden, layer: number, dtype: Encoding): Record<string, Tensor> {
  const { E, d_model: d, d_ff: dFF } = g.caseJson.shapes;
  const prefix = `model.layers.${layer}.block_sparse_moe.`;
  return {
    [`${prefix}gate.weight`]: tensor(g.f32('gate.weight'), [E, d], dtype),
    ...perExpertSwiglu(prefix, g.f32('experts.gate_up_proj'), g.f32('experts.down_proj'), E, dFF, d, ['w1', 'w3', 'w2'], dtype),
  };
}

/** One MoE layer of the qwen2_moe golden under its on-disk names. */
export function qwen2MoeLayer(g: Golden, layer: number, dtype: Encoding): Record<string, Tensor> {
  const { E, d_model: d, moe_intermediate_size: dFF, shared_expert_intermediate_size: sFF } = g.caseJson.shapes;
  const prefix = `model.layers.${layer}.mlp.`;
  return {
    [`${prefix}gate.weight`]: tensor(g.f32('gate.weight'), [E, d], dtype),
    ...perExpertSwiglu(prefix, g.f32('experts.gate_up_proj'), g.f32('experts.down_proj'), E, dFF, d, ['gate_proj', 'up_proj', 'down_proj'], dtype),
    [`${prefix}shared_expert.gate_proj.weight`]: tensor(g.f32('shared_expert.gate_proj.weight'), [sFF, d], dtype),
    [`${prefix}shared_expert.up_proj.weight`]: tensor(g.f32('shared_expert.up_proj.weight'), [sFF, d], dtype),
    [`${prefix}shared_expert.down_proj.weight`]: tensor(g.f32('shared_expert.down_proj.weight'), [d, sFF], dtype),
    [`${prefix}shared_expert_gate.weight`]: tensor(g.f32('shared_expert_gate.weight'), [1, d], dtype),
  };
}

/** Splits tensors round-robin by name order into `nShard` files; returns the files and the index. */
export function shard(tensors: Record<string, Tensor>, nShard: number): { files: Record<string, Uint8Array>; index: { weight_map: Record<string, string> } } {
  const names = Object.keys(tensors).sort();
  const fileName = (i: number): string => `model-${String(i + 1).padStart(5, '0')}-of-${String(nShard).padStart(5, '0')}.safetensors`;
  const parts: Record<string, Tensor>[] = Array.from({ length: nShard }, () => ({}));
  const weightMap: Record<string, string> = {};
  names.forEach((name, i) => {
    // Contiguous runs, as real shards are: shard s holds names [s·n/nShard, (s+1)·n/nShard).
    const s = Math.min(nShard - 1, Math.floor((i * nShard) / names.length));
    parts[s][name] = tensors[name];
    weightMap[name] = fileName(s);
  });
  return {
    files: Object.fromEntries(parts.map((p, s) => [fileName(s), writeSafetensors(p)])),
    index: { weight_map: weightMap },
  };
}

/** Writes a sharded checkpoint directory: config.json, the shards and model.safetensors.index.json. */
export async function writeCheckpoint(dir: string, config: Record<string, unknown>, tensors: Record<string, Tensor>, nShard: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { files, index } = shard(tensors, nShard);
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, ...index }, null, 2));
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
}
