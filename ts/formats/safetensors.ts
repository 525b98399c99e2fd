// A safetensors reader that treats every file as hostile.
//
// Layout (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes of UTF-8
// JSON, then the data section. The header maps names to { dtype, shape, data_offsets: [begin, end] } with
// offsets relative to the data section, plus an optional "__metadata__" of string → string.
//
// A checkpoint comes from the internet, so nothing in the header is trusted: every length and offset is
// checked against the bytes actually present before it is used, the header size is capped, the JSON's
// nesting is bounded before it is parsed, and tensors may not overlap — the last rule bounds the bytes a
// reader can be made to copy by the file size (otherwise a million entries aliasing one misaligned region
// would each be copied). Tensor data is little-endian; on a big-endian host it is copied and byte-swapped.

import { SwitchyardError, describe } from '../errors.js';
import type { Dtype, RawDtype, RawTensor, Tensor } from '../spec/types.js';
import { DTYPE_SIZE } from './dtype.js';

/** A parsed safetensors file: tensors in header order, and the free-form "__metadata__". */
export interface SafetensorsFile {
  tensors: Map<string, Tensor | RawTensor>;
  metadata: Record<string, string>;
}

/** Largest accepted JSON header. Real headers are kilobytes to a few MB; the reference Rust reader caps at 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

// A valid header nests three deep ({ name: { shape: [ ] } }); anything far deeper is an attack on the JSON
// parser's recursion (some engines overflow the stack), so it is refused before parsing.
const MAX_JSON_DEPTH = 16;

/**
 * Most tensors one file may declare. Each costs a few hundred bytes of objects beside its ~70 header bytes,
 * so a header of a million empty tensors would take ~10× the file in memory and seconds to read. Real
 * files hold thousands (a whole 671B-parameter checkpoint ~90 000, over 163 shards).
 */
export const MAX_TENSORS = 1 << 18;

const HEADER = 'safetensors header';

const DTYPES: ReadonlyMap<string, Dtype> = new Map([['F32', 'f32'], ['F16', 'f16'], ['BF16', 'bf16'], ['I32', 'i32']]);

/** The safetensors names of the RawDtypes, with their element sizes. */
const RAW_DTYPES: ReadonlyMap<string, [RawDtype, number]> = new Map([['U8', ['u8', 1]], ['F8_E4M3', ['f8_e4m3', 1]]]);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The file's bytes: a buffer, or any view read as the bytes it covers (never converted element by element). */
function fileBytes(bytes: unknown): Uint8Array {
  let u8: Uint8Array | undefined;
  try {
    if (bytes instanceof Uint8Array) u8 = bytes;
    else if (ArrayBuffer.isView(bytes)) u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    else if (bytes instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && bytes instanceof SharedArrayBuffer)) {
      u8 = new Uint8Array(bytes);
    }
  } catch {
    // The engine refuses a view of a detached buffer (one transferred to a worker, say).
    throw new SwitchyardError('range', 'bytes', 'expected the file in a live buffer, received a detached one (transferred elsewhere?)');
  }
  if (u8 !== undefined) return u8;
  throw new SwitchyardError('dtype', 'bytes', `expected the file as an ArrayBuffer or Uint8Array, received ${describe(bytes)}`);
}

/**
 * Parses a safetensors file. Tensors are zero-copy views into `bytes` when their offset is aligned to the
 * element size, otherwise copies. Values are host-order typed arrays: Float32Array (F32), Uint16Array of
 * raw half bits (F16, BF16; convert with toFloat32), Int32Array (I32); U8 and F8_E4M3 tensors (RawDtype,
 * the quantised forms fromHuggingFace dequantises) are Uint8Array views of their bytes.
 *
 * @throws SwitchyardError 'range' (lengths/offsets outside the file, more than MAX_TENSORS tensors, a
 *   detached buffer), 'shape' (malformed header, a duplicate key, size mismatch, overlap) or 'dtype'
 *   (unknown dtype, or bytes that are not a buffer or a view).
 * @example
 * const file = readSafetensors(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 * const w = toFloat32(file.tensors.get('model.layers.0.block_sparse_moe.gate.weight')!, 'gate.weight');
 */
export function readSafetensors(bytes: ArrayBuffer | Uint8Array): SafetensorsFile {
  const u8 = fileBytes(bytes);
  const headerLength = lengthField(u8);
  if (headerLength > u8.byteLength - 8) {
    throw new SwitchyardError('range', HEADER,
      `expected a header length within the ${u8.byteLength - 8} bytes after the length field, got ${headerLength}`);
  }
  const { dataStart, entries, metadata } = readHeader(u8, headerLength, u8.byteLength);
  const tensors = new Map<string, Tensor | RawTensor>();
  for (const e of entries) {
    const start = dataStart + e.begin;
    tensors.set(e.name, e.raw
      ? { dtype: e.dtype as RawDtype, shape: e.shape, data: u8.subarray(start, start + e.end - e.begin) }
      : { dtype: e.dtype as Dtype, shape: e.shape, data: tensorData(u8, start, e) });
  }
  return { tensors, metadata };
}

/** Where one tensor's bytes are in the file (readSafetensorsHeader). */
export interface SafetensorsEntry {
  dtype: Dtype | RawDtype;
  shape: number[];
  /** Byte offsets in the file, from its first byte: the tensor is bytes [begin, end). */
  begin: number;
  end: number;
}

/** A file's header alone: where every tensor is, for a reader that fetches only the tensors it needs. */
export interface SafetensorsHeader {
  /** 8 + the JSON header's length: the first byte of the data section. */
  dataStart: number;
  /** In header order. */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/**
 * How many of a file's first bytes readSafetensorsHeader needs (8 + the header's length), from its first 8.
 * With `fileSize`, a header that would end past the file is refused before anyone fetches it.
 * @throws SwitchyardError 'range' (fewer than 8 bytes, a header over MAX_HEADER_BYTES or past fileSize)
 */
export function safetensorsHeaderSize(bytes: ArrayBuffer | Uint8Array, fileSize?: number): number {
  const headerLength = lengthField(fileBytes(bytes));
  checkHeaderFits(headerLength, fileSize);
  return 8 + headerLength;
}

/** A header that ends past the file is the file's fault (a corrupt length field), named as such. */
function checkHeaderFits(headerLength: number, fileSize: number | undefined): void {
  if (fileSize === undefined) return;
  if (!Number.isSafeInteger(fileSize) || fileSize < 8) {
    throw new SwitchyardError('range', 'fileSize', `expected the file's size in bytes, an integer ≥ 8, got ${describe(fileSize)}`);
  }
  if (8 + headerLength > fileSize) {
    throw new SwitchyardError('range', HEADER, `expected a header that ends within the file (${fileSize} bytes), got a header length of ${headerLength}`);
  }
}

/**
 * Parses the header from a file's first bytes, under readSafetensors' rules, without its data: for a
 * checkpoint too large to hold (a shard of gigabytes fetched by HTTP range, or read from a file handle),
 * where a layer needs a few of its tensors. With `fileSize`, every tensor must end within the file.
 * A tensor read from bytes [begin, end) becomes { dtype, shape, data: those bytes } for fromHuggingFace
 * or createMoE (bytes are read as the dtype's little-endian elements).
 *
 * @throws SwitchyardError as readSafetensors does; 'range' when `bytes` holds less than the whole header
 * @example
 * let fileSize;
 * const range = async (begin, end) => {
 *   const res = await fetch(url, { headers: { Range: `bytes=${begin}-${end - 1}` } });
 *   // A server that ignores Range answers 200 with the whole file: stop it rather than download gigabytes.
 *   if (res.status !== 206) { await res.body?.cancel(); throw new Error(`${url}: no range support (HTTP ${res.status})`); }
 *   fileSize = Number(res.headers.get('content-range')?.split('/')[1]);
 *   return new Uint8Array(await res.arrayBuffer());
 * };
 * const first8 = await range(0, 8);
 * const header = readSafetensorsHeader(await range(0, safetensorsHeaderSize(first8, fileSize)), fileSize);
 * const tensors = new Map();
 * for (const [name, e] of header.tensors) if (name.startsWith(prefix)) tensors.set(name, { dtype: e.dtype, shape: e.shape, data: await range(e.begin, e.end) });
 * const moe = await fromHuggingFace({ config, tensors, prefix });
 */
export function readSafetensorsHeader(bytes: ArrayBuffer | Uint8Array, fileSize?: number): SafetensorsHeader {
  const u8 = fileBytes(bytes);
  const headerLength = lengthField(u8);
  checkHeaderFits(headerLength, fileSize);
  if (headerLength > u8.byteLength - 8) {
    throw new SwitchyardError('range', 'bytes', `expected the file's first ${8 + headerLength} bytes (the length field and the header), got ${u8.byteLength}`);
  }
  const { dataStart, entries, metadata } = readHeader(u8, headerLength, fileSize ?? Number.MAX_SAFE_INTEGER);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, begin: dataStart + e.begin, end: dataStart + e.end });
  return { dataStart, tensors, metadata };
}

/** The header's length from the u64 length field. */
function lengthField(u8: Uint8Array): number {
  if (u8.byteLength < 8) {
    throw new SwitchyardError('range', HEADER, `expected at least 8 bytes (the header length), got ${u8.byteLength}`);
  }
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  // Read as two halves: a u64 near 2^63 must not round into something plausible.
  const headerLength = high * 2 ** 32 + low;
  if (high !== 0 || headerLength > MAX_HEADER_BYTES) {
    throw new SwitchyardError('range', HEADER,
      `expected a header length of at most ${MAX_HEADER_BYTES} bytes, got ${high !== 0 ? '≥ 2^32' : headerLength}`);
  }
  return headerLength;
}

/** The header's entries (checked against a file of fileSize bytes, and for overlap) and metadata. */
function readHeader(u8: Uint8Array, headerLength: number, fileSize: number): { dataStart: number; entries: Entry[]; metadata: Record<string, string> } {
  const header = parseHeader(u8.subarray(8, 8 + headerLength));
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const metadata = readMetadata(header['__metadata__']);
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name !== '__metadata__') entries.push(readEntry(name, value, dataLength));
  }
  checkNoOverlap(entries);
  return { dataStart, entries, metadata };
}

/**
 * No two tensors may share bytes (zero-length tensors may sit anywhere): a reader copying each range would
 * otherwise copy aliased bytes once per alias. `argument` names the tensor at fault in the error.
 */
export function checkNoOverlap(ranges: { name: string; begin: number; end: number }[], argument = (name: string) => name): void {
  const byOffset = ranges.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const previous = byOffset[i - 1];
    if (byOffset[i].begin < previous.end) {
      throw new SwitchyardError('shape', argument(byOffset[i].name),
        `expected data_offsets not overlapping "${previous.name}" (which ends at ${previous.end}), got begin ${byOffset[i].begin}`);
    }
  }
}

interface Entry {
  name: string;
  dtype: Dtype | RawDtype;
  /** A RawDtype: kept as bytes. */
  raw: boolean;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

/**
 * The header's JSON object, under readSafetensors' rules for the text (UTF-8, nesting, duplicate keys, entry
 * count); entries are not checked. For a reader that fetches the data by range (switchyard inspect).
 */
export function parseHeader(headerBytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    // A browser's TextDecoder refuses views of shared memory (a checkpoint read into a SharedArrayBuffer):
    // the header, at most MAX_HEADER_BYTES, is decoded from a copy then.
    const own = headerBytes.buffer instanceof ArrayBuffer ? headerBytes : headerBytes.slice();
    text = new TextDecoder('utf-8', { fatal: true }).decode(own);
  } catch {
    throw new SwitchyardError('shape', HEADER, 'expected UTF-8 JSON, got invalid UTF-8');
  }
  checkJsonText(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message.slice(0, 100) : 'unparsable';
    throw new SwitchyardError('shape', HEADER, `expected JSON, got a parse error (${reason})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SwitchyardError('shape', HEADER, `expected a JSON object, got ${jsonKind(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * One linear pass over the header before JSON.parse, for what JSON.parse would not tell: nesting deeper
 * than MAX_JSON_DEPTH (an attack on the parser's recursion), a key repeated within one object (JSON.parse
 * keeps the last silently; the format forbids duplicates, and a reader keeping the first would see another
 * tensor), and more than MAX_TENSORS entries (refused before they are materialised). Malformed JSON is
 * left to JSON.parse.
 */
function checkJsonText(text: string): void {
  // One entry per open container: the keys seen so far in an object, or null for an array.
  const open: (ObjectKeys | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          i++; // the escaped character, which may be a quote
          escaped = true;
        } else if (d === 0x22) break;
      }
      if (!expectKey) continue;
      expectKey = false;
      const key = escaped ? decodeString(text.slice(start, i + 1)) : text.slice(start + 1, i);
      const keys = open[open.length - 1]!;
      if (!keys.add(key)) {
        const shown = key.length > 80 ? key.slice(0, 80) + '…' : key;
        // A repeated tensor is named as the argument; a repeated field (two "dtype"s) within the header.
        throw new SwitchyardError('shape', open.length === 1 ? shown : HEADER,
          `expected each key once per object, got ${JSON.stringify(shown)} twice (safetensors forbids duplicate keys)`);
      }
      if (open.length === 1 && keys.size > MAX_TENSORS) {
        throw new SwitchyardError('range', HEADER, `expected at most ${MAX_TENSORS} tensors in one file, got more`);
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length >= MAX_JSON_DEPTH) {
        throw new SwitchyardError('shape', HEADER, `expected JSON nested at most ${MAX_JSON_DEPTH} deep, got deeper`);
      }
      open.push(c === 0x7b ? new ObjectKeys() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = open.length > 0 && open[open.length - 1] !== null;
    }
  }
}

/** A JSON string token's value; the token itself when it is malformed (JSON.parse then reports it). */
function decodeString(token: string): string {
  try {
    return JSON.parse(token) as string;
  } catch {
    return token;
  }
}

/** The keys of one JSON object: a short list (an entry has three), a set once there are many. */
class ObjectKeys {
  private readonly list: string[] = [];
  private set: Set<string> | undefined;

  get size(): number {
    return this.set ? this.set.size : this.list.length;
  }

  /** Records `key`; false when the object already had it. */
  add(key: string): boolean {
    if (this.set) {
      if (this.set.has(key)) return false;
      this.set.add(key);
      return true;
    }
    if (this.list.includes(key)) return false;
    this.list.push(key);
    if (this.list.length > 16) this.set = new Set(this.list);
    return true;
  }
}

function readMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SwitchyardError('shape', '__metadata__', `expected an object of strings, got ${jsonKind(value)}`);
  }
  const pairs = Object.entries(value);
  for (const [key, v] of pairs) {
    if (typeof v !== 'string') {
      throw new SwitchyardError('shape', `__metadata__.${key}`, `expected a string, got ${jsonKind(v)}`);
    }
  }
  // fromEntries defines own properties, so a key like "__proto__" cannot reach the prototype.
  return Object.fromEntries(pairs) as Record<string, string>;
}

function readEntry(name: string, value: unknown, dataLength: number): Entry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SwitchyardError('shape', name, `expected { dtype, shape, data_offsets }, got ${jsonKind(value)}`);
  }
  const { dtype: rawDtype, shape: rawShape, data_offsets: rawOffsets } = value as Record<string, unknown>;

  const known = typeof rawDtype === 'string' ? DTYPES.get(rawDtype) : undefined;
  const raw = typeof rawDtype === 'string' && known === undefined ? RAW_DTYPES.get(rawDtype) : undefined;
  if (known === undefined && raw === undefined) {
    const got = typeof rawDtype === 'string' ? JSON.stringify(rawDtype.slice(0, 40)) : jsonKind(rawDtype);
    throw new SwitchyardError('dtype', name,
      `expected dtype F32, F16, BF16, I32, ${[...RAW_DTYPES.keys()].join(' or ')}, got ${got}`);
  }
  const dtype = known ?? raw![0];

  if (!Array.isArray(rawShape)) {
    throw new SwitchyardError('shape', name, `expected shape to be an array, got ${jsonKind(rawShape)}`);
  }
  let count = 1;
  for (const dim of rawShape) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new SwitchyardError('shape', name, `expected non-negative integer dimensions, got ${jsonKind(dim)} in shape`);
    }
    // Divide instead of multiplying first, so the check itself cannot overflow past 2^53.
    if (dim !== 0 && count > Number.MAX_SAFE_INTEGER / dim) {
      throw new SwitchyardError('shape', name, `expected at most 2^53 elements, got a larger shape of rank ${rawShape.length}`);
    }
    count *= dim;
  }
  const shape = rawShape as number[];
  const itemSize = known !== undefined ? DTYPE_SIZE[known] : raw![1];
  if (count > Number.MAX_SAFE_INTEGER / itemSize) {
    throw new SwitchyardError('shape', name, `expected at most 2^53 bytes, got ${count} elements of ${itemSize} bytes`);
  }
  const byteCount = count * itemSize;

  if (!Array.isArray(rawOffsets) || rawOffsets.length !== 2 ||
      // Integers past 2^53 are let through here: the range check below rejects them against the file size.
      !rawOffsets.every((o) => typeof o === 'number' && Number.isInteger(o) && o >= 0)) {
    throw new SwitchyardError('shape', name, `expected data_offsets to be [begin, end] of non-negative integers, got ${JSON.stringify(rawOffsets)?.slice(0, 80)}`);
  }
  const [begin, end] = rawOffsets as [number, number];
  if (begin > end || end > dataLength) {
    throw new SwitchyardError('range', name,
      `expected 0 ≤ begin ≤ end ≤ ${dataLength} (the data section), got data_offsets [${begin}, ${end}]`);
  }
  if (end - begin !== byteCount) {
    throw new SwitchyardError('shape', name,
      `expected ${byteCount} bytes for ${dtype} [${shape.join(', ')}], got data_offsets spanning ${end - begin}`);
  }
  return { name, dtype, raw: raw !== undefined, shape: shape.slice(), count, begin, end };
}

/** A host-order typed array over the tensor's bytes: a view when aligned (and little-endian host), else a copy. */
function tensorData(u8: Uint8Array, start: number, e: Entry): Int32Array | Float32Array | Uint16Array {
  const itemSize = DTYPE_SIZE[e.dtype as Dtype];
  const absolute = u8.byteOffset + start;
  let buffer: ArrayBufferLike = u8.buffer;
  let offset = absolute;
  if (absolute % itemSize !== 0 || !LITTLE_ENDIAN_HOST) {
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(u8.subarray(start, start + copy.length));
    if (!LITTLE_ENDIAN_HOST) swapBytes(copy, itemSize);
    buffer = copy.buffer;
    offset = 0;
  }
  if (e.dtype === 'f32') return new Float32Array(buffer, offset, e.count);
  if (e.dtype === 'i32') return new Int32Array(buffer, offset, e.count);
  return new Uint16Array(buffer, offset, e.count);
}

/** Reverses the bytes of each element in place (little-endian file → big-endian host order). */
function swapBytes(b: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= b.length; i += itemSize) {
    for (let lo = i, hi = i + itemSize - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/** A short name for a JSON value's kind, for error messages (never echoes a long value). */
function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return typeof v === 'object' ? 'an object' : typeof v;
}
