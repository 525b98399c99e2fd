// `switchyard inspect` on checkpoints written to a temp dir: a sharded bf16 Mixtral with an index, a
// single-file Qwen2-MoE with config.json beside it, a Switch encoder-decoder, and a hub cache folder.
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../ts/errors.js';
import { runInspect } from '../../ts/inspect/inspect.js';
import type { Tensor } from '../../ts/spec/types.js';
import { loadGolden, mixtralLayer, qwen2MoeLayer, tensor, writeCheckpoint, writeSafetensors } from './huggingface-checkpoint.js';

async function inspect(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runInspect(args, (line) => lines.push(line));
  return { code, text: lines.join('\n') };
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'switchyard-inspect-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('switchyard inspect', () => {
  const mixtral = loadGolden('mixtral');
  const qwen = loadGolden('qwen2_moe');

  it('a sharded bf16 Mixtral directory: family, layers, per-expert tensors folded, routing stats', async () => {
    const dir = join(root, 'mixtral');
    const config = { ...mixtral.caseJson.config, model_type: 'mixtral', num_hidden_layers: 3 };
    const tensors = { ...mixtralLayer(mixtral, 0, 'bf16'), ...mixtralLayer(mixtral, 1, 'bf16'), ...mixtralLayer(mixtral, 2, 'bf16') };
    await writeCheckpoint(dir, config, tensors, 3);
    const { code, text } = await inspect([dir, '--layer', '2', '--backend', 'reference', '--tokens', '16']);
    expect(code).toBe(0);
    expect(text).toContain('family       mixtral');
    expect(text).toContain('(3 safetensors files, with index)');
    expect(text).toContain('MoE layers   decoder: 0-2 (3)');
    expect(text).not.toContain('encoder');
    expect(text).toContain('layer        decoder 2, prefix model.layers.2.block_sparse_moe.');
    expect(text).toMatch(/E=8 {2}k=2 {2}dModel=64 {2}dFF=96 {2}activation=swiglu/);
    expect(text).toMatch(/gate\.weight\s+BF16\s+\[8, 64\]/);
    expect(text).toMatch(/experts\.\*\.w1\.weight\s+BF16\s+\[96, 64\]\s+×8/);
    expect(text).toMatch(/experts\.\*\.w2\.weight\s+BF16\s+\[64, 96\]\s+×8/);
    expect(text).toContain('routing      16 tokens ~ N(0, 1), seed 0, on reference');
    expect(text).toMatch(/load\s+\[(\d+, ){7}\d+\]/);
    const load = /load\s+\[([^\]]*)\]/.exec(text)![1].split(', ').map(Number);
    expect(load.reduce((a, b) => a + b, 0)).toBe(16 * 2);
    expect(text).toMatch(/aux\s+\d+\.\d{4}\s+z \d+\.\d{4}/);
  });

  it('a single safetensors file with config.json beside it (Qwen2-MoE, shared expert)', async () => {
    const dir = join(root, 'qwen');
    await writeCheckpoint(dir, { model_type: 'qwen2_moe', ...qwen.caseJson.config, num_hidden_layers: 4, decoder_sparse_step: 2 }, {}, 1);
    await rm(join(dir, 'model.safetensors.index.json'));
    await rm(join(dir, 'model-00001-of-00001.safetensors'));
    const file = join(dir, 'model.safetensors');
    await writeFile(file, writeSafetensors({ ...qwen2MoeLayer(qwen, 1, 'f32'), ...qwen2MoeLayer(qwen, 3, 'f32') }));
    const { code, text } = await inspect([file, '--backend', 'reference']);
    expect(code).toBe(0);
    expect(text).toContain('family       qwen2_moe');
    expect(text).toContain('(1 safetensors file)');
    expect(text).toContain('MoE layers   decoder: 1, 3 (2)');
    expect(text).toContain('layer        decoder 1, prefix model.layers.1.mlp.');
    expect(text).toContain('shared dFF=96 (σ-gated)');
    expect(text).toMatch(/shared_expert_gate\.weight\s+F32\s+\[1, 64\]/);
    expect(text).toMatch(/experts\.\*\.down_proj\.weight\s+F32\s+\[64, 48\]\s+×8/);
    await expect(inspect([file, '--layer', '2'])).rejects.toThrow(SwitchyardError);
  });

  it('a Switch encoder-decoder: both stacks listed, capacity drops reported', async () => {
    const dir = join(root, 'switch');
    const E = 4;
    const d = 8;
    const dFF = 16;
    const config = {
      model_type: 'switch_transformers', d_model: d, d_ff: dFF, num_experts: E, expert_capacity: 2,
      num_layers: 4, num_decoder_layers: 2, num_sparse_encoder_layers: 2, num_sparse_decoder_layers: 1,
    };
    const block = (prefix: string): Record<string, Tensor> => {
      const out: Record<string, Tensor> = { [`${prefix}router.classifier.weight`]: tensor(Float32Array.from({ length: E * d }, (_, i) => Math.sin(i)), [E, d], 'f32') };
      for (let e = 0; e < E; e++) {
        out[`${prefix}experts.expert_${e}.wi.weight`] = tensor(Float32Array.from({ length: dFF * d }, (_, i) => Math.cos(i + e)), [dFF, d], 'f32');
        out[`${prefix}experts.expert_${e}.wo.weight`] = tensor(Float32Array.from({ length: d * dFF }, (_, i) => Math.sin(i * e)), [d, dFF], 'f32');
      }
      return out;
    };
    await writeCheckpoint(dir, config, { ...block('encoder.block.1.layer.1.mlp.'), ...block('encoder.block.3.layer.1.mlp.'), ...block('decoder.block.1.layer.2.mlp.') }, 2);
    const { text } = await inspect([dir, '--backend', 'reference', '--tokens', '20']);
    expect(text).toContain('MoE layers   encoder: 1, 3 (2)');
    expect(text).toContain('MoE layers   decoder: 1 (1)');
    expect(text).toContain('layer        encoder 1, prefix encoder.block.1.layer.1.mlp.');
    expect(text).toContain('activation=relu');
    expect(text).toMatch(/experts\.expert_\*\.wi\.weight\s+F32\s+\[16, 8\]\s+×4/);
    // Capacity 2 per expert over one sequence of 20 tokens keeps at most 8.
    expect(text).toMatch(/dropped\s+1[2-9] \(/);
    expect(text).toContain('seqAux');
    const decoder = await inspect([dir, '--stack', 'decoder', '--backend', 'reference']);
    expect(decoder.text).toContain('layer        decoder 1, prefix decoder.block.1.layer.2.mlp.');
  });

  it('refuses an index pointing out of the directory, and a config.json too large to be one', async () => {
    const dir = join(root, 'hostile');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'mixtral' }));
    await writeFile(join(root, 'outside.safetensors'), new Uint8Array(16));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'a.weight': '../outside.safetensors' } }));
    await expect(inspect([dir])).rejects.toMatchObject({ code: 'range', argument: 'index.weight_map["a.weight"]' });
    // A sparse file: its size is what is checked, nothing is read.
    await truncate(join(dir, 'config.json'), 65 * 1024 * 1024);
    await expect(inspect([dir])).rejects.toMatchObject({ code: 'limits' });
  });

  it('holds a shard header to readSafetensors\' rules: overlapping tensors, duplicate keys, invalid UTF-8', async () => {
    const dir = join(root, 'hostile-headers');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'mixtral' }));
    const entry = (begin: number) => `{"dtype":"F32","shape":[4],"data_offsets":[${begin},${begin + 16}]}`;
    const shard = (header: Uint8Array) => {
      const out = new Uint8Array(8 + header.length + 32);
      new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
      out.set(header, 8);
      return out;
    };
    const text = (s: string) => new TextEncoder().encode(s);
    const file = join(dir, 'model.safetensors');
    await writeFile(file, shard(text(`{"a":${entry(0)},"b":${entry(8)}}`)));
    await expect(inspect([dir])).rejects.toMatchObject({ code: 'shape', argument: `${file}: b` });
    await writeFile(file, shard(text(`{"a":${entry(0)},"a":${entry(16)}}`)));
    await expect(inspect([dir])).rejects.toMatchObject({ code: 'shape', argument: `${file}: a` });
    const notUtf8 = text(`{"a":${entry(0)}} `);
    notUtf8[notUtf8.length - 1] = 0xff;
    await writeFile(file, shard(notUtf8));
    await expect(inspect([dir])).rejects.toMatchObject({ code: 'shape', argument: `${file}: safetensors header` });
  });

  it('the CLI reports a missing path in one line and exits 1 (dist/cli.js, built by npm test)', () => {
    const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
    const run = spawnSync(process.execPath, [cli, 'inspect', join(root, 'not-there')], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^switchyard: .*not-there: expected a Hugging Face checkpoint directory/);
  });

  it('names what it expected where a path or config.json is missing', async () => {
    await expect(inspect([join(root, 'not-there')])).rejects.toMatchObject({ code: 'config', argument: join(root, 'not-there') });
    const dir = join(root, 'no-config');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors'), new Uint8Array(16));
    for (const path of [dir, join(dir, 'model.safetensors')]) {
      const e = await inspect([path]).then(() => undefined, (x: SwitchyardError) => x);
      expect(e, path).toMatchObject({ code: 'config', argument: join(dir, 'config.json') });
      expect(e!.message).toContain("the model's config.json beside its safetensors files");
    }
  });

  it("a Hugging Face hub cache folder is its refs/main snapshot, else its only one; several without refs/main are named", async () => {
    const hub = join(root, 'models--org--tiny');
    const config = { ...mixtral.caseJson.config, model_type: 'mixtral', num_hidden_layers: 1 };
    await writeCheckpoint(join(hub, 'snapshots', 'aaaa1111'), config, mixtralLayer(mixtral, 0, 'f32'), 1);
    const one = await inspect([hub, '--backend', 'reference', '--tokens', '4']);
    expect(one.text).toContain(`checkpoint   ${hub} → ${join(hub, 'snapshots', 'aaaa1111')} (1 safetensors file`);
    // A second snapshot of another model type: which one ran shows in the family line.
    await writeCheckpoint(join(hub, 'snapshots', 'bbbb2222'), { ...config, model_type: 'qwen3_moe' }, mixtralLayer(mixtral, 0, 'f32'), 1);
    const e = await inspect([hub]).then(() => undefined, (x: SwitchyardError) => x);
    expect(e).toMatchObject({ code: 'config', argument: hub });
    expect(e!.message).toContain('found snapshots aaaa1111, bbbb2222');
    await mkdir(join(hub, 'refs'));
    // A ref that is a path, not a revision, is not followed.
    await writeFile(join(hub, 'refs', 'main'), '../snapshots/aaaa1111');
    await expect(inspect([hub])).rejects.toMatchObject({ code: 'config', argument: hub });
    await writeFile(join(hub, 'refs', 'main'), 'aaaa1111\n');
    const main = await inspect([hub, '--backend', 'reference', '--tokens', '4']);
    expect(main.code).toBe(0);
    expect(main.text).toContain(`→ ${join(hub, 'snapshots', 'aaaa1111')}`);
    expect(main.text).toContain('family       mixtral');
    // A checkpoint directory with a snapshots/ folder of its own is read as itself.
    const own = join(root, 'with-snapshots');
    await writeCheckpoint(own, config, mixtralLayer(mixtral, 0, 'f32'), 1);
    await mkdir(join(own, 'snapshots', 'x'), { recursive: true });
    await mkdir(join(own, 'snapshots', 'y'));
    expect((await inspect([own, '--backend', 'reference', '--tokens', '4'])).text).toContain(`checkpoint   ${own} (1 safetensors file`);
  });

  it('says what it received where config.json is not a JSON object', async () => {
    const dir = join(root, 'config-array');
    await writeCheckpoint(dir, { model_type: 'mixtral' }, mixtralLayer(mixtral, 0, 'f32'), 1);
    await writeFile(join(dir, 'config.json'), '[1, 2]');
    await expect(inspect([dir])).rejects.toThrow(/config\.json: expected a JSON object, got an array/);
  });

  it('prints its usage', async () => {
    expect((await inspect(['--help'])).text).toContain('usage: switchyard inspect');
    expect((await inspect([])).code).toBe(2);
  });
});
