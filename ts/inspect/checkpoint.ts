// A Hugging Face checkpoint on disk (Node only): config.json, one or more *.safetensors and an optional
// model.safetensors.index.json. Only headers are read up front; a layer's tensors are then read by byte
// range, so inspecting one layer of a 100 GB checkpoint reads kilobytes of headers and that layer.
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SwitchyardError, describe } from '../errors.js';
import { hubSnapshot } from './hub-cache.js';
import { weightMapOf, type SafetensorsIndex } from '../formats/layers.js';
import { checkNoOverlap, parseHeader, readSafetensors, safetensorsHeaderSize, type SafetensorsFile } from '../formats/safetensors.js';

/** One tensor as a header describes it (offsets relative to the file's data section). */
export interface HeaderEntry {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface ShardHeader {
  /** File name, as the index's weight_map spells it. */
  name: string;
  path: string;
  /** 8 + header length: where the data section starts. */
  dataStart: number;
  dataLength: number;
  entries: Map<string, HeaderEntry>;
}

export interface Checkpoint {
  dir: string;
  config: Record<string, unknown>;
  index: SafetensorsIndex | undefined;
  shards: ShardHeader[];
}

const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Opens a checkpoint directory (or a hub cache folder: hub-cache.ts), or a single .safetensors file with
 * config.json beside it. With an index only the shards it names are considered; otherwise every
 * *.safetensors of the directory.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const isFile = (await statOf(path, 'a Hugging Face checkpoint directory, or one of its .safetensors files')).isFile();
  const dir = isFile ? dirname(path) : ((await hubSnapshot(path)) ?? path);
  const config = await readJson(join(dir, 'config.json'), `the model's config.json beside its safetensors files in ${dir}`);
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new SwitchyardError('config', join(dir, 'config.json'), `expected a JSON object, got ${Array.isArray(config) ? 'an array' : describe(config)}`);
  }
  let index: SafetensorsIndex | undefined;
  let names: string[];
  if (isFile) {
    names = [basename(path)];
  } else {
    const listing = await readdir(dir);
    if (listing.includes(INDEX_FILE)) {
      index = { weight_map: weightMapOf(await readJson(join(dir, INDEX_FILE), `the shard index ${INDEX_FILE}`)) };
      names = [...new Set(Object.values(index.weight_map))].sort();
    } else {
      names = listing.filter((f) => f.endsWith('.safetensors')).sort();
    }
    if (names.length === 0) throw new SwitchyardError('shape', dir, 'expected *.safetensors files, found none');
  }
  const shards = await Promise.all(names.map((name) => readHeader(join(dir, name), name)));
  return { dir, config: config as Record<string, unknown>, index, shards };
}

/** stat(path), or SwitchyardError 'config' naming the path and what was expected there when nothing is. */
async function statOf(path: string, expected: string): Promise<Awaited<ReturnType<typeof stat>>> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
    throw new SwitchyardError('config', path, `expected ${expected}; there is no such file or directory`);
  }
}

/**
 * config.json is kilobytes and the largest shard index (DeepSeek-V3: 91k tensors) a few MB: a JSON file
 * past this is not one of them, and is refused before it is read whole into memory.
 */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

async function readJson(path: string, expected: string): Promise<unknown> {
  const { size } = await statOf(path, expected);
  if (size > MAX_JSON_BYTES) {
    throw new SwitchyardError('limits', path, `expected a JSON file of at most ${MAX_JSON_BYTES} bytes, got ${size}`);
  }
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SwitchyardError('config', path, `expected JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** fn(), its SwitchyardError named as in the file at `path` ('…/model.safetensors: safetensors header'). */
function inFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof SwitchyardError)) throw e;
    throw new SwitchyardError(e.code, `${path}: ${e.argument}`, e.message.slice(e.argument.length + 2));
  }
}

/** Reads only the header of a safetensors file and checks every entry's offsets against the file size. */
async function readHeader(path: string, name: string): Promise<ShardHeader> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    // The length field under readSafetensors' rules (its cap, and a header that ends within the file).
    const length = inFile(path, () => safetensorsHeaderSize(head.subarray(0, bytesRead), size)) - 8;
    const json = Buffer.alloc(length);
    await handle.read(json, 0, length, 8);
    const header = inFile(path, () => parseHeader(json));
    const dataLength = size - 8 - length;
    const entries = new Map<string, HeaderEntry>();
    for (const [tensor, value] of Object.entries(header as Record<string, unknown>)) {
      if (tensor === '__metadata__') continue;
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const offsets = v?.data_offsets;
      if (typeof v?.dtype !== 'string' || !Array.isArray(v.shape) || !Array.isArray(offsets) || offsets.length !== 2 ||
          !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > dataLength) {
        throw new SwitchyardError('shape', `${path}: ${tensor}`,
          `expected { dtype, shape, data_offsets } within the data section (${dataLength} bytes), got ${JSON.stringify(value)?.slice(0, 120)}`);
      }
      entries.set(tensor, { dtype: v.dtype, shape: v.shape as number[], begin: offsets[0], end: offsets[1] });
    }
    // readLayer copies each range: aliased ranges would be copied once per alias.
    checkNoOverlap([...entries].map(([tensor, e]) => ({ name: tensor, begin: e.begin, end: e.end })), (tensor) => `${path}: ${tensor}`);
    return { name, path, dataStart: 8 + length, dataLength, entries };
  } finally {
    await handle.close();
  }
}

/** Every tensor name of the checkpoint with the shard that holds it. */
export function tensorNames(ckpt: Checkpoint): Map<string, ShardHeader> {
  const out = new Map<string, ShardHeader>();
  for (const shard of ckpt.shards) for (const name of shard.entries.keys()) if (!out.has(name)) out.set(name, shard);
  return out;
}

/**
 * The tensors under `prefix`, read by byte range from the shards that hold them, as parsed shard files by
 * name (for fromHuggingFace's `files`). Each shard's selection is reassembled into a small safetensors
 * buffer and parsed by readSafetensors, so it gets the same checks as a whole file.
 */
export async function readLayer(ckpt: Checkpoint, prefix: string): Promise<Record<string, SafetensorsFile>> {
  const files: Record<string, SafetensorsFile> = {};
  for (const shard of ckpt.shards) {
    const wanted = [...shard.entries].filter(([name]) => name.startsWith(prefix));
    if (wanted.length === 0) continue;
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, e] of wanted) {
      header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + (e.end - e.begin)] };
      offset += e.end - e.begin;
    }
    if (offset > shard.dataLength) {
      throw new SwitchyardError('shape', shard.path, 'expected tensors not to overlap: they add up to more than the file');
    }
    const json = Buffer.from(JSON.stringify(header));
    const bytes = new Uint8Array(8 + json.length + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    const handle = await open(shard.path, 'r');
    try {
      let at = 8 + json.length;
      for (const [, e] of wanted) {
        // read() may return short for very large ranges: loop until the range is in.
        for (let done = 0; done < e.end - e.begin;) {
          const { bytesRead } = await handle.read(bytes, at + done, e.end - e.begin - done, shard.dataStart + e.begin + done);
          if (bytesRead === 0) throw new SwitchyardError('range', shard.path, 'file ended before the tensor data');
          done += bytesRead;
        }
        at += e.end - e.begin;
      }
    } finally {
      await handle.close();
    }
    files[shard.name] = readSafetensors(bytes);
  }
  return files;
}
