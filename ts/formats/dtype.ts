// Element types of checkpoint tensors: shapes, conversion to f32, and the half-precision encoders.
//
// Typed arrays are read in host byte order. readSafetensors hands out host-order arrays (it byte-swaps on a
// big-endian host), so everything here works on the element values, never on raw little-endian bytes.

import { SwitchyardError, describe } from '../errors.js';
import type { CheckpointTensor, Dtype, Tensor } from '../spec/types.js';

/** The largest finite f16: weights beyond it would become ±inf when stored as f16. */
export const F16_MAX = 65504;

/**
 * Refuses weights that f16 cannot hold (|w| > 65504) rather than rounding them to ±inf; every path stores
 * f16 weights under this rule, so a block is refused or not whatever path it meets. `offset`: where a[0]
 * sits in the tensor the error names (a part checked on its own).
 */
export function checkF16Range(a: Float32Array, argument: string, offset = 0): void {
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]) > F16_MAX) {
      throw new SwitchyardError('range', argument, `expected |weight| ≤ ${F16_MAX} for f16 weights, received ${a[i]} at element ${offset + i}`);
    }
  }
}

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = { f32: 4, f16: 2, bf16: 2, i32: 4 };

/**
 * The shape of a tensor: its own shape, or [length] for a bare Float32Array (which carries none).
 *
 * @example
 * tensorShape(new Float32Array(6)); // [6]
 * tensorShape({ dtype: 'f16', shape: [2, 3], data: new Uint16Array(6) }); // [2, 3]
 */
export function tensorShape(t: CheckpointTensor): number[] {
  return t instanceof Float32Array ? [t.length] : t.shape.slice();
}

/** The number of elements of a shape; the caller has already validated its entries. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const dim of shape) n *= dim;
  return n;
}

/** Whether `got` is exactly `shape` (a shape list from a checkpoint, not yet trusted). */
export function sameShape(got: unknown, shape: readonly number[]): boolean {
  return Array.isArray(got) && got.length === shape.length && got.every((dim, i) => dim === shape[i]);
}

/**
 * Converts a tensor to float32 values ([...shape] row-major, same element count).
 * f32 data is returned as is (no copy: the result may alias a checkpoint buffer); f16 and bf16 are widened
 * exactly (every half and bfloat16 value is representable in f32); i32 is refused, since reading ids or
 * counts as weights is a bug, not a conversion, and so are the dtypes a checkpoint keeps as bytes (u8, f8_e4m3).
 * Public: readSafetensors hands out f16 / bf16 tensors as their bits. `argument` names the tensor in errors.
 *
 * @example
 * toFloat32({ dtype: 'bf16', shape: [2], data: f32ToBf16([1, -2]) }, 'router.weight'); // Float32Array [1, -2]
 */
export function toFloat32(t: CheckpointTensor, argument = 'tensor'): Float32Array {
  if (t instanceof Float32Array) return t;
  const { dtype, n } = checkedTensor(t, argument);
  if (dtype === 'f32') return elements(t.data, Float32Array, n);
  const out = new Float32Array(n);
  halfReader(dtype, elements(t.data, Uint16Array, n), n)(0, 1, out, 0);
  return out;
}

/**
 * The bits of an f16 or bf16 tensor, validated as toFloat32 validates it (a view of its data when aligned);
 * undefined for a tensor of f32 values.
 */
export function halfBits(t: CheckpointTensor, argument: string): { dtype: 'f16' | 'bf16'; bits: Uint16Array } | undefined {
  if (t instanceof Float32Array) return undefined;
  const { dtype, n } = checkedTensor(t, argument);
  return dtype === 'f32' ? undefined : { dtype, bits: elements(t.data, Uint16Array, n) };
}

/**
 * Index of the first bits of an f16 / bf16 array that are ±∞ or NaN (the exponent all ones), or −1. Scanned
 * two halves to a 32-bit word, four words a step: (h & exponent) + its lowest bit reaches bit 15 exactly
 * when the exponent is all ones, and never carries into the other half (3-4× faster than half by half).
 */
export function firstNonFiniteHalf(dtype: 'f16' | 'bf16', bits: Uint16Array): number {
  const mask = dtype === 'bf16' ? 0x7f80 : 0x7c00;
  const one = dtype === 'bf16' ? 0x0080 : 0x0400;
  const bad = (h: number) => (h & mask) === mask;
  // The words start where the halves are 4-byte aligned.
  const head = bits.byteOffset % 4 === 0 ? 0 : 1;
  if (head === 1 && bits.length > 0 && bad(bits[0])) return 0;
  const words = new Uint32Array(bits.buffer, bits.byteOffset + 2 * head, Math.max(0, bits.length - head) >> 1);
  const mask2 = mask * 0x10001;
  const one2 = one * 0x10001;
  let any = 0;
  for (let i = 0; i + 4 <= words.length; i += 4) {
    any |= ((words[i] & mask2) + one2) | ((words[i + 1] & mask2) + one2) | ((words[i + 2] & mask2) + one2) | ((words[i + 3] & mask2) + one2);
  }
  for (let i = words.length & ~3; i < words.length; i++) any |= (words[i] & mask2) + one2;
  const tail = head + 2 * words.length;
  if ((any & 0x80008000) === 0 && !bits.subarray(tail).some(bad)) return -1;
  return bits.findIndex(bad);
}

/** The f32 value of f16 / bf16 bits. */
export function halfValue(dtype: 'f16' | 'bf16', h: number): number {
  return dtype === 'bf16' ? decodeBf16(h) : decodeF16(h);
}

/**
 * Rows of `cols` f16 / bf16 values widened to f32, exactly, into out[at ..]: bfloat16 is the high half of a
 * float32, so shifting its bits up is the conversion (NaN payloads included); f16 goes through a table.
 */
export function halfReader(dtype: 'f16' | 'bf16', bits: Uint16Array, cols: number): (r0: number, r1: number, out: Float32Array, at: number) => void {
  if (dtype === 'bf16') {
    let view: Float32Array | undefined;
    let out32: Uint32Array = new Uint32Array(0);
    return (r0, r1, out, at) => {
      if (out !== view) {
        view = out;
        out32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
      }
      // Locals, not the closure's variables, in the loop: V8 then keeps them in registers (1.5 → 0.6 ns a value).
      const to = out32;
      const from = bits;
      const first = r0 * cols;
      const n = (r1 - r0) * cols;
      for (let i = 0; i < n; i++) to[at + i] = from[first + i] << 16;
    };
  }
  const table = f16Table();
  return (r0, r1, out, at) => {
    const from = bits;
    const values = table;
    const first = r0 * cols;
    const n = (r1 - r0) * cols;
    for (let i = 0; i < n; i++) out[at + i] = values[from[first + i]];
  };
}

/** A tensor object's dtype and element count, after every check toFloat32 makes (a bad one throws). */
function checkedTensor(t: Exclude<CheckpointTensor, Float32Array>, argument: string): { dtype: 'f32' | 'f16' | 'bf16'; n: number } {
  // Values of another element type (a Float64Array, a plain array, a number) are a dtype mistake, as for
  // route()'s inputs; a tensor object without a shape list is a shape mistake.
  if (t === null || typeof t !== 'object' || ArrayBuffer.isView(t) || Array.isArray(t)) {
    throw new SwitchyardError('dtype', argument, `expected a Float32Array or { dtype, shape, data: ArrayBufferView }, got ${describe(t)}`);
  }
  if (!ArrayBuffer.isView(t.data)) {
    throw new SwitchyardError('dtype', argument, `expected { dtype, shape, data: ArrayBufferView }, got data ${describe(t.data)}`);
  }
  if (!Array.isArray(t.shape)) {
    throw new SwitchyardError('shape', argument, `expected { dtype, shape: number[], data }, got shape ${describe(t.shape)}`);
  }
  const dtype = t.dtype;
  if (dtype === 'i32') {
    throw new SwitchyardError('dtype', argument, 'expected f32, f16 or bf16, got i32');
  }
  if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') {
    throw new SwitchyardError('dtype', argument, `expected f32, f16 or bf16, got ${describe(dtype)}`);
  }
  const n = checkedSize(t, argument);
  // Data typed with another element size than the dtype's (a Float32Array as f16) is a dtype mistake,
  // whatever its length: bytes (Uint8Array, DataView) are the only untyped form.
  const elementBytes = (t.data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  if (elementBytes !== 1 && elementBytes !== DTYPE_SIZE[dtype]) {
    throw new SwitchyardError('dtype', argument,
      `expected ${dtype} data (${DTYPE_SIZE[dtype] === 2 ? 'a Uint16Array' : 'a Float32Array'} or bytes), got a ${t.data.constructor.name} for shape [${t.shape.join(', ')}]`);
  }
  if (t.data.byteLength !== n * DTYPE_SIZE[dtype]) {
    throw new SwitchyardError('shape', argument,
      `expected ${n * DTYPE_SIZE[dtype]} bytes of ${dtype} for shape [${t.shape.join(', ')}], got ${t.data.byteLength}`);
  }
  return { dtype, n };
}

/** Validates a tensor's shape (non-negative safe integers, safe product) and returns its element count. */
function checkedSize(t: Tensor, argument: string): number {
  let n = 1;
  for (const dim of t.shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new SwitchyardError('shape', argument, `expected non-negative integer dimensions, got [${t.shape.join(', ')}]`);
    }
    if (dim !== 0 && n > Number.MAX_SAFE_INTEGER / dim) {
      throw new SwitchyardError('shape', argument, `expected at most 2^53 elements, got shape [${t.shape.join(', ')}]`);
    }
    n *= dim;
  }
  return n;
}

type ElementArray<A> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): A; BYTES_PER_ELEMENT: number };

/** Views `data` as n elements of type A without copying when it is aligned, else copies the bytes once. */
function elements<A>(data: ArrayBufferView, ctor: ElementArray<A>, n: number): A {
  if (data instanceof (ctor as unknown as typeof Float32Array)) return data as unknown as A;
  if (data.byteOffset % ctor.BYTES_PER_ELEMENT === 0) return new ctor(data.buffer, data.byteOffset, n);
  const copy = new Uint8Array(data.byteLength);
  copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return new ctor(copy.buffer, 0, n);
}

/** The float value of IEEE 754 binary16 bits: normals, subnormals (2^-24 steps), ±inf and NaN. */
export function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

/** The float value of bfloat16 bits. */
export function decodeBf16(h: number): number {
  scratch32[0] = (h & 0xffff) << 16;
  return scratchF32[0];
}

// 65536 entries × 4 bytes: built on first use, then a conversion is one load per element.
let f16ToF32: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!f16ToF32) {
    f16ToF32 = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) f16ToF32[h] = decodeF16(h);
  }
  return f16ToF32;
}

// Shared scratch for reading float32 bit patterns; both views are of one 4-byte buffer.
const scratchF32 = new Float32Array(1);
const scratch32 = new Uint32Array(scratchF32.buffer);

/** float32 → binary16 bits, rounding to nearest, ties to even; overflow gives ±inf, NaN stays NaN (quiet). */
export function encodeF16(x: number): number {
  scratchF32[0] = x;
  const b = scratch32[0];
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const mantissa = b & 0x7fffff;
  if (exponent === 0xff) return mantissa ? sign | 0x7e00 | (mantissa >>> 13) : sign | 0x7c00;
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: the value in units of 2^-24 is m · 2^(exponent − 126) with the implicit bit in m.
    if (exponent === 0) return sign; // f32 subnormals are far below half the smallest f16 subnormal
    const shift = 126 - exponent; // ≥ 14 here
    if (shift >= 25) return sign; // below 2^-25: under half the smallest subnormal, rounds to 0
    const m = mantissa | 0x800000;
    let q = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (q & 1))) q++; // q may reach 0x400, the smallest normal: still right
    return sign | q;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the right result (up to 0x7c00 = inf).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** float32 → bfloat16 bits, rounding to nearest, ties to even; NaN stays NaN (quiet). */
export function encodeBf16(x: number): number {
  scratchF32[0] = x;
  const b = scratch32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return (b >>> 16) | 0x40;
  // Adding 0x7fff plus the kept lsb rounds half to even; overflow carries into the exponent (→ inf).
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Encodes float values as binary16 bits (e.g. to write an F16 safetensors tensor). */
export function f32ToF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeF16(values[i]);
  return out;
}

/** Encodes float values as bfloat16 bits (e.g. to write a BF16 safetensors tensor). */
export function f32ToBf16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeBf16(values[i]);
  return out;
}
