// readSafetensors on files built here (round trips, alignment) and on hostile headers; the f16/bf16 codecs.

import { describe, expect, it } from 'vitest';
import { SwitchyardError } from '../../ts/errors.js';
import { MAX_TENSORS, readSafetensors, readSafetensorsHeader, safetensorsHeaderSize } from '../../ts/formats/safetensors.js';
import {
  decodeBf16, decodeF16, encodeBf16, encodeF16, f32ToBf16, f32ToF16, tensorShape, toFloat32,
} from '../../ts/formats/dtype.js';

type FileDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'U8';
interface Entry { name: string; dtype: FileDtype; shape: number[]; data: ArrayBufferView }

/** Writes a safetensors file: tensors contiguous in the given order, header padded by `pad` extra spaces. */
function encodeSafetensors(entries: Entry[], metadata?: Record<string, string>, pad = 0): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.byteLength] };
    offset += e.data.byteLength;
  }
  const data = new Uint8Array(offset);
  offset = 0;
  for (const e of entries) {
    data.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), offset);
    offset += e.data.byteLength;
  }
  return rawFile(JSON.stringify(header) + ' '.repeat(pad), data);
}

/** A file from a literal header text (not necessarily JSON) and data; `length` overrides the u64 length field. */
function rawFile(headerText: string, data: Uint8Array = new Uint8Array(0), length?: bigint): Uint8Array {
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function header(entries: Record<string, unknown>, dataBytes = 64): Uint8Array {
  return rawFile(JSON.stringify(entries), new Uint8Array(dataBytes));
}

/** Asserts that fn throws a SwitchyardError with this code (and argument, when given) — never anything else. */
function expectError(fn: () => unknown, code: string, argument?: string): SwitchyardError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(SwitchyardError);
  const err = caught as SwitchyardError;
  expect(err.code, err.message).toBe(code);
  if (argument !== undefined) expect(err.argument).toBe(argument);
  return err;
}

describe('readSafetensors: round trip', () => {
  const f32 = new Float32Array([1, -2.5, 3, 4, 5e-8, -Infinity]);
  const i32 = new Int32Array([7, -1, 2 ** 31 - 1, -(2 ** 31)]);
  const f16 = f32ToF16([1, -2, 65504]);
  const bf16 = f32ToBf16([3.140625, -0.5]);
  const entries: Entry[] = [
    { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: f32 },
    { name: 'b.i32', dtype: 'I32', shape: [4], data: i32 },
    { name: 'c.f16', dtype: 'F16', shape: [3], data: f16 },
    { name: 'd.bf16', dtype: 'BF16', shape: [1, 2], data: bf16 },
    { name: 'e.scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
    { name: 'f.empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
  ];

  function check(file: ReturnType<typeof readSafetensors>): void {
    expect([...file.tensors.keys()]).toEqual(entries.map((e) => e.name));
    expect(file.metadata).toEqual({ format: 'pt', note: 'x' });
    const a = file.tensors.get('a.f32')!;
    expect(a.dtype).toBe('f32');
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect([...(a.data as Float32Array)]).toEqual([...f32]);
    expect([...(file.tensors.get('b.i32')!.data as Int32Array)]).toEqual([...i32]);
    expect([...toFloat32(file.tensors.get('c.f16')!, 'c')]).toEqual([1, -2, 65504]);
    expect([...toFloat32(file.tensors.get('d.bf16')!, 'd')]).toEqual([3.140625, -0.5]);
    expect(file.tensors.get('e.scalar')!.shape).toEqual([]);
    expect([...(file.tensors.get('e.scalar')!.data as Float32Array)]).toEqual([42]);
    expect(file.tensors.get('f.empty')!.data.byteLength).toBe(0);
  }

  it('reads every dtype back, zero-copy when aligned', () => {
    // Pad the header so the data section starts at a multiple of 8, as writers do.
    const dataBytes = entries.reduce((n, e) => n + e.data.byteLength, 0);
    const dataStart = encodeSafetensors(entries, { format: 'pt', note: 'x' }).length - dataBytes;
    const bytes = encodeSafetensors(entries, { format: 'pt', note: 'x' }, (8 - (dataStart % 8)) % 8);
    const file = readSafetensors(bytes.buffer as ArrayBuffer);
    check(file);
    expect(file.tensors.get('a.f32')!.data.buffer).toBe(bytes.buffer);
    expect(file.tensors.get('c.f16')!.data.buffer).toBe(bytes.buffer);
  });

  it('copies when the data section is misaligned, and honours a Uint8Array byteOffset', () => {
    for (let pad = 0; pad < 8; pad++) {
      const bytes = encodeSafetensors(entries, { format: 'pt', note: 'x' }, pad);
      for (const shift of [0, 1, 2, 3]) {
        const host = new Uint8Array(bytes.length + shift + 5).fill(0xee); // guard bytes around the file
        host.set(bytes, shift);
        check(readSafetensors(host.subarray(shift, shift + bytes.length)));
      }
    }
  });

  it('reads any view by the bytes it covers, and refuses what is not bytes', () => {
    const bytes = encodeSafetensors(entries, { format: 'pt', note: 'x' });
    const host = new Uint8Array(bytes.length + 8);
    host.set(bytes, 8);
    check(readSafetensors(new DataView(host.buffer, 8, bytes.length) as never));
    check(readSafetensors(new Int8Array(host.buffer, 8, bytes.length) as never));
    for (const bad of [undefined, null, 'file', [1, 2, 3]]) expectError(() => readSafetensors(bad as never), 'dtype', 'bytes');
  });

  it('keeps a "__proto__" metadata key as plain data', () => {
    const file = readSafetensors(rawFile('{"__metadata__":{"__proto__":"p","k":"v"}}'));
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
    expect(Object.keys(file.metadata).sort()).toEqual(['__proto__', 'k']);
  });

  it('reads an empty header object', () => {
    const file = readSafetensors(rawFile('{}'));
    expect(file.tensors.size).toBe(0);
    expect(file.metadata).toEqual({});
  });
});

describe('readSafetensors: hostile files', () => {
  const ok = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };

  it('rejects files too short for the length field', () => {
    expectError(() => readSafetensors(new Uint8Array(7)), 'range', 'safetensors header');
    expectError(() => readSafetensors(new ArrayBuffer(0)), 'range');
  });

  it('rejects header lengths beyond the file or the cap', () => {
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 3n)), 'range');
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 1000n)), 'range');
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 2n ** 63n)), 'range');
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 2n ** 64n - 1n)), 'range');
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 2n ** 32n + 2n)), 'range');
    expectError(() => readSafetensors(rawFile('{}', new Uint8Array(0), 200_000_000n)), 'range');
  });

  it('rejects non-JSON, invalid UTF-8 and non-object headers', () => {
    expectError(() => readSafetensors(rawFile('{"a": ')), 'shape', 'safetensors header');
    expectError(() => readSafetensors(rawFile('')), 'shape');
    const bad = rawFile('{"x":1}');
    bad[9] = 0xff; // not UTF-8
    expectError(() => readSafetensors(bad), 'shape');
    for (const text of ['[]', '[1,2]', '42', 'null', '"str"', 'true']) {
      expectError(() => readSafetensors(rawFile(text)), 'shape', 'safetensors header');
    }
  });

  it('rejects deeply nested JSON before parsing, but not brackets inside strings', () => {
    const deep = '{"a":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}';
    expectError(() => readSafetensors(rawFile(deep)), 'shape', 'safetensors header');
    const deepObjects = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    expectError(() => readSafetensors(rawFile(deepObjects)), 'shape');
    const file = readSafetensors(rawFile(JSON.stringify({ __metadata__: { s: '[[[[[[[[[[[[[[[[[[[[[[[[["\\' } })));
    expect(file.metadata.s).toBe('[[[[[[[[[[[[[[[[[[[[[[[[["\\');
  });

  it('rejects bad shapes', () => {
    for (const shape of [[-1, 2], [1.5, 2], ['2', 2], [null], [2 ** 53, 1], [1e300], 'x', { 0: 2 }, null]) {
      expectError(() => readSafetensors(header({ t: { ...ok, shape } })), 'shape', 't');
    }
    // Each dimension is safe but the product is not: must be caught without overflowing.
    expectError(() => readSafetensors(header({ t: { ...ok, shape: [2 ** 30, 2 ** 30, 2 ** 30] } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, shape: [2 ** 52] } })), 'shape', 't'); // 2^54 bytes
  });

  it('rejects bad offsets and size mismatches', () => {
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [56, 72] } })), 'range', 't'); // past end
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [16, 0] } })), 'range', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [0, 2 ** 60] } })), 'range', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [-16, 0] } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [0.5, 16.5] } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [0] } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: '0,16' } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [0, 12] } })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: { ...ok, data_offsets: [0, 20] } })), 'shape', 't');
    const err = expectError(() => readSafetensors(header({ t: { ...ok, dtype: 'F16' } })), 'shape', 't');
    expect(err.message).toMatch(/8 bytes/);
    expect(err.message).toMatch(/16/);
  });

  it('rejects overlapping tensors', () => {
    const overlapping = { a: ok, b: { ...ok, data_offsets: [8, 24] } };
    expectError(() => readSafetensors(header(overlapping)), 'shape', 'b');
    const aliases: Record<string, unknown> = {};
    for (let i = 0; i < 1000; i++) aliases[`t${i}`] = ok; // would otherwise be 1000 copies of one region
    expectError(() => readSafetensors(header(aliases)), 'shape');
  });

  it('rejects a key repeated in one object, however it is spelled, but not the same key in two objects', () => {
    const entry = JSON.stringify(ok);
    const wide = JSON.stringify({ ...ok, shape: [1e9], data_offsets: [0, 4e9] });
    // JSON.parse would keep the second "w" and never look at the first.
    expectError(() => readSafetensors(rawFile(`{"w":${wide},"w":${entry}}`, new Uint8Array(16))), 'shape', 'w');
    expectError(() => readSafetensors(rawFile(`{"w":${entry},"\\u0077":${entry}}`, new Uint8Array(16))), 'shape', 'w');
    const twoDtypes = '{"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16],"dtype":"F32"}}';
    const err = expectError(() => readSafetensors(rawFile(twoDtypes, new Uint8Array(16))), 'shape', 'safetensors header');
    expect(err.message).toMatch(/"dtype" twice/);
    // Many keys (past the short list ObjectKeys starts with), the duplicate last.
    const many = Array.from({ length: 40 }, (_, i) => `"k${i}":"v"`).join(',');
    expectError(() => readSafetensors(rawFile(`{"__metadata__":{${many},"k3":"v"}}`)), 'shape');
    // Equal keys in different objects, and a key's text inside a string value, are fine.
    const file = readSafetensors(rawFile(`{"__metadata__":{"dtype":"x","a":"\\"dtype\\":"},"a":${entry}}`, new Uint8Array(16)));
    expect([...file.tensors.keys()]).toEqual(['a']);
    expect(file.metadata).toEqual({ dtype: 'x', a: '"dtype":' });
  });

  it(`refuses more than MAX_TENSORS tensors before materialising them`, () => {
    const entries = (n: number) => Array.from({ length: n }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',');
    expect(readSafetensors(rawFile(`{${entries(1000)}}`)).tensors.size).toBe(1000);
    const err = expectError(() => readSafetensors(rawFile(`{${entries(MAX_TENSORS + 1)}}`)), 'range', 'safetensors header');
    expect(err.message).toContain(String(MAX_TENSORS));
  });

  it('refuses a detached buffer, or a view of one', () => {
    const buffer = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: new Float32Array(2) }]).buffer;
    const view = new Uint8Array(buffer, 0, 16);
    structuredClone(buffer, { transfer: [buffer] });
    expectError(() => readSafetensors(buffer), 'range', 'bytes');
    expectError(() => readSafetensors(view), 'range');
  });

  it('rejects unknown or missing dtypes', () => {
    for (const dtype of ['F64', 'I64', 'BOOL', 'F8_E5M2', 'F4', 'f32', 'u8', '', 7, null, undefined]) {
      expectError(() => readSafetensors(header({ t: { ...ok, dtype } })), 'dtype', 't');
    }
  });

  it('keeps U8 and F8_E4M3 tensors (the quantised forms fromHuggingFace dequantises) as their bytes', () => {
    const entries = {
      w: ok,
      q: { dtype: 'U8', shape: [2, 3], data_offsets: [16, 22] },
      f: { dtype: 'F8_E4M3', shape: [5], data_offsets: [22, 27] },
    };
    const data = Uint8Array.from({ length: 27 }, (_, i) => (i * 37 + 11) & 255);
    const file = readSafetensors(rawFile(JSON.stringify(entries), data));
    expect(file.tensors.get('w')!.data).toBeInstanceOf(Float32Array);
    for (const [name, dtype, begin, end] of [['q', 'u8', 16, 22], ['f', 'f8_e4m3', 22, 27]] as const) {
      const t = file.tensors.get(name)!;
      expect(t.dtype).toBe(dtype);
      expect(t.data).toBeInstanceOf(Uint8Array);
      expect([...(t.data as Uint8Array)]).toEqual([...data.subarray(begin, end)]);
    }
    expect(file.tensors.get('q')!.shape).toEqual([2, 3]);
    // A span that is not one byte per element is refused as for any dtype.
    expectError(() => readSafetensors(header({ t: { dtype: 'U8', shape: [3], data_offsets: [0, 4] } })), 'shape', 't');
    // Kept, but refused where a weight is read as floats.
    expectError(() => toFloat32(file.tensors.get('q')!, 'q'), 'dtype', 'q');
  });

  it('rejects entries that are not objects and non-string metadata', () => {
    expectError(() => readSafetensors(header({ t: [1, 2] })), 'shape', 't');
    expectError(() => readSafetensors(header({ t: 3 })), 'shape', 't');
    expectError(() => readSafetensors(header({ __metadata__: { a: 1 } })), 'shape', '__metadata__.a');
    expectError(() => readSafetensors(header({ __metadata__: ['a'] })), 'shape', '__metadata__');
  });

  it('never throws anything but SwitchyardError on mutated files', () => {
    const base = encodeSafetensors([
      { name: 'x', dtype: 'F32', shape: [3, 2], data: new Float32Array(6) },
      { name: 'y', dtype: 'BF16', shape: [5], data: new Uint16Array(5) },
    ], { format: 'pt' });
    let seed = 12345; // fixed seed, printed on failure
    const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = base.slice(0, trial % 7 === 0 ? next() % base.length : base.length);
      for (let m = 0; m < 1 + (trial % 4); m++) {
        if (bytes.length > 0) bytes[next() % bytes.length] = next() & 0xff;
      }
      try {
        readSafetensors(bytes);
      } catch (e) {
        expect(e, `trial ${trial}`).toBeInstanceOf(SwitchyardError);
      }
    }
  });
});

describe('half-precision codecs', () => {
  it('decodes known f16 values', () => {
    expect(decodeF16(0x3c00)).toBe(1);
    expect(decodeF16(0xc000)).toBe(-2);
    expect(decodeF16(0x7bff)).toBe(65504);
    expect(decodeF16(0x0001)).toBe(2 ** -24);
    expect(decodeF16(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(decodeF16(0x0400)).toBe(2 ** -14); // smallest normal
    expect(decodeF16(0x7c00)).toBe(Infinity);
    expect(decodeF16(0xfc00)).toBe(-Infinity);
    expect(decodeF16(0x7e00)).toBeNaN();
    expect(Object.is(decodeF16(0x8000), -0)).toBe(true);
  });

  it('encodes f16 with round-to-nearest-even', () => {
    expect(encodeF16(1)).toBe(0x3c00);
    expect(encodeF16(-2)).toBe(0xc000);
    expect(encodeF16(65504)).toBe(0x7bff);
    expect(encodeF16(65519)).toBe(0x7bff);
    expect(encodeF16(65520)).toBe(0x7c00); // halfway to 65536: ties to even = inf
    expect(encodeF16(1e9)).toBe(0x7c00);
    expect(encodeF16(2 ** -24)).toBe(0x0001);
    expect(encodeF16(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24 → even (0)
    expect(encodeF16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(encodeF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units → even (2)
    expect(encodeF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even mantissa
    expect(encodeF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(encodeF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(encodeF16(Infinity)).toBe(0x7c00);
    expect(encodeF16(-Infinity)).toBe(0xfc00);
    expect(decodeF16(encodeF16(NaN))).toBeNaN();
    expect(encodeF16(-0)).toBe(0x8000);
    expect(encodeF16(1e-45)).toBe(0); // an f32 subnormal
  });

  it('round-trips every non-NaN f16 bit pattern', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = decodeF16(h);
      if (Number.isNaN(x)) continue;
      if (encodeF16(x) !== h) throw new Error(`f16 0x${h.toString(16)} → ${x} → 0x${encodeF16(x).toString(16)}`);
    }
  });

  it('encodes and decodes bf16', () => {
    expect(encodeBf16(3.140625)).toBe(0x4049);
    expect(decodeBf16(0x4049)).toBe(3.140625);
    expect(encodeBf16(1)).toBe(0x3f80);
    expect(encodeBf16(-2)).toBe(0xc000);
    expect(encodeBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(encodeBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(encodeBf16(Math.PI)).toBe(0x4049);
    expect(encodeBf16(3.4028234663852886e38)).toBe(0x7f80); // max float rounds to inf
    expect(encodeBf16(Infinity)).toBe(0x7f80);
    expect(decodeBf16(encodeBf16(NaN))).toBeNaN();
    expect(decodeBf16(0x0001)).toBe(2 ** -133); // bf16 subnormal
  });
});

describe('toFloat32 and tensorShape', () => {
  it('returns f32 as is and widens f16/bf16', () => {
    const f = new Float32Array([1, 2]);
    expect(toFloat32(f, 'x')).toBe(f);
    const values = [1, -2, 65504, 2 ** -24, Infinity, -Infinity];
    expect([...toFloat32({ dtype: 'f16', shape: [6], data: f32ToF16(values) }, 'x')]).toEqual(values);
    const nan = toFloat32({ dtype: 'f16', shape: [1], data: new Uint16Array([0x7e00]) }, 'x');
    expect(nan[0]).toBeNaN();
    const b = toFloat32({ dtype: 'bf16', shape: [2, 1], data: new Uint16Array([0x4049, 0xc000]) }, 'x');
    expect([...b]).toEqual([3.140625, -2]);
  });

  it('reads misaligned or differently typed views by their bytes', () => {
    const bytes = new Uint8Array(9);
    bytes.set(new Uint8Array(f32ToF16([1, -2, 0.5, 4]).buffer), 1);
    expect([...toFloat32({ dtype: 'f16', shape: [4], data: bytes.subarray(1) }, 'x')]).toEqual([1, -2, 0.5, 4]);
    const f32bytes = new Uint8Array(new Float32Array([1.5, -3]).buffer);
    expect([...toFloat32({ dtype: 'f32', shape: [2], data: f32bytes }, 'x')]).toEqual([1.5, -3]);
  });

  it('refuses i32, unknown dtypes and size mismatches', () => {
    expectError(() => toFloat32({ dtype: 'i32', shape: [1], data: new Int32Array(1) }, 'w'), 'dtype', 'w');
    expectError(() => toFloat32({ dtype: 'f64' as never, shape: [1], data: new Float64Array(1) }, 'w'), 'dtype', 'w');
    expectError(() => toFloat32({ dtype: 'f16', shape: [3], data: new Uint16Array(2) }, 'w'), 'shape', 'w');
    expectError(() => toFloat32({ dtype: 'f16', shape: [3], data: new Float32Array(3) }, 'w'), 'dtype', 'w');
    expectError(() => toFloat32({ dtype: 'f16', shape: [24], data: new Float32Array(12) }, 'w'), 'dtype', 'w'); // bytes fit, type does not
    expectError(() => toFloat32({ dtype: 'f32', shape: [3], data: [1, 2, 3] } as never, 'w'), 'dtype', 'w');
    expectError(() => toFloat32(new Float64Array(3) as never, 'w'), 'dtype', 'w');
    expectError(() => toFloat32([1, 2, 3] as never, 'w'), 'dtype', 'w');
    expectError(() => toFloat32({ dtype: 'f32', data: new Float32Array(3) } as never, 'w'), 'shape', 'w');
    expectError(() => toFloat32({ dtype: 'f32', shape: [-1], data: new Float32Array(1) }, 'w'), 'shape', 'w');
  });

  it('is public: the entry widens a bf16 / f16 file tensor exactly and names it "tensor" unless told', async () => {
    const api = await import('../../ts/entry/node.js');
    const file = api.readSafetensors(encodeSafetensors([
      { name: 'w', dtype: 'BF16', shape: [2], data: f32ToBf16([3.140625, -2]) },
      { name: 'h', dtype: 'F16', shape: [2], data: f32ToF16([0.5, 65504]) },
      { name: 'ids', dtype: 'I32', shape: [1], data: new Int32Array([7]) },
    ]));
    expect([...api.toFloat32(file.tensors.get('w')!)]).toEqual([3.140625, -2]);
    expect([...api.toFloat32(file.tensors.get('h')!)]).toEqual([0.5, 65504]);
    expectError(() => api.toFloat32(file.tensors.get('ids')!), 'dtype', 'tensor');
    expectError(() => api.toFloat32(file.tensors.get('ids')!, 'ids'), 'dtype', 'ids');
  });

  it('gives shapes', () => {
    expect(tensorShape(new Float32Array(6))).toEqual([6]);
    expect(tensorShape({ dtype: 'bf16', shape: [2, 3], data: new Uint16Array(6) })).toEqual([2, 3]);
  });
});

describe('readSafetensorsHeader: a file read by ranges', () => {
  const f32 = Float32Array.from([1.5, -2, 3.25, 4]);
  const bf16 = f32ToBf16([0.5, -0.25, 8]);
  const u8 = Uint8Array.from([7, 0, 255]);
  // Odd sizes first, so later tensors sit at unaligned offsets.
  const file = encodeSafetensors([
    { name: 'u', dtype: 'U8', shape: [3], data: u8 },
    { name: 'b', dtype: 'BF16', shape: [3], data: bf16 },
    { name: 'w', dtype: 'F32', shape: [2, 2], data: f32 },
  ], { format: 'pt' });

  it('finds every tensor: its bytes, as a tensor, read as the whole-file reader reads them', () => {
    const size = safetensorsHeaderSize(file.subarray(0, 8));
    const whole = readSafetensors(file);
    for (const header of [readSafetensorsHeader(file.subarray(0, size)), readSafetensorsHeader(file.slice(0, size), file.length), readSafetensorsHeader(file)]) {
      expect(header.dataStart).toBe(size);
      expect(header.metadata).toEqual({ format: 'pt' });
      expect([...header.tensors.keys()]).toEqual(['u', 'b', 'w']);
      for (const [name, e] of header.tensors) {
        const t = { dtype: e.dtype, shape: e.shape, data: file.subarray(e.begin, e.end) };
        const want = whole.tensors.get(name)!;
        expect(t.dtype).toBe(want.dtype);
        expect(t.shape).toEqual(want.shape);
        if (name === 'u') expect([...t.data]).toEqual([...u8]);
        else expect(toFloat32(t as never, name)).toEqual(toFloat32(want, name));
      }
    }
  });

  it('says how many bytes it needs, and checks the tensors against the file size when given', () => {
    const size = safetensorsHeaderSize(file);
    expectError(() => safetensorsHeaderSize(file.subarray(0, 7)), 'range');
    expect(expectError(() => readSafetensorsHeader(file.subarray(0, size - 1)), 'range', 'bytes').message).toContain(String(size));
    // A header ending past the file is the file's fault (its length field), not the caller's fileSize.
    expectError(() => readSafetensorsHeader(file.subarray(0, size), size - 1), 'range', 'safetensors header');
    expectError(() => safetensorsHeaderSize(file.subarray(0, 8), size - 1), 'range', 'safetensors header');
    expect(safetensorsHeaderSize(file.subarray(0, 8), file.length)).toBe(size);
    expectError(() => readSafetensorsHeader(file.subarray(0, size), 2.5), 'range', 'fileSize');
    expectError(() => safetensorsHeaderSize(file.subarray(0, 8), -1), 'range', 'fileSize');
    // The file cut short of the last tensor ('w', 16 bytes at the end).
    expectError(() => readSafetensorsHeader(file.subarray(0, size), file.length - 1), 'range', 'w');
    // Without a size, offsets are still checked for order, size and overlap.
    expectError(() => readSafetensorsHeader(header({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 4] } })), 'range', 't');
    expectError(() => readSafetensorsHeader(header({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } })), 'shape', 'b');
    expectError(() => readSafetensorsHeader(header({ t: { dtype: 'F32', shape: [2], data_offsets: [2 ** 60, 2 ** 60 + 8] } })), 'range', 't');
  });
});
