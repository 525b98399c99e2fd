// Host-side memory management for the WASM path. The module (built with --runtime stub) has no
// allocator: the host owns linear memory above heapBase(), hands kernels byte offsets, and grows the
// memory when it runs out. Two kinds of use:
//   - long-lived blocks (packed expert weights): alloc/release on a first-fit free list with coalescing;
//   - per-call scratch: one block reused across calls, replaced only when a call needs more, carved into
//     regions separated by guard words that are checked after every kernel call.
import { SwitchyardError } from '../errors.js';

const PAGE_BYTES = 65536;
/** wasm32 addresses are 32-bit: no memory beyond 4 GiB, whatever the engine's own limit. */
const MAX_BYTES = 2 ** 32;
/** v128 loads and stores are fastest at 16-byte alignment; every block and region starts on one. */
const ALIGN = 16;
/** A value no kernel writes by chance: a quiet NaN with a recognisable payload (0x7fc0dead). */
const GUARD_WORD = 0x7fc0dead;
const GUARD_WORDS = ALIGN / 4;
/** Most regions one call takes from the scratch (route takes 22; threaded runExperts 9 + 3 per thread). */
const MAX_REGIONS = 256;

export function align16(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

/** Copies the first n elements of src to view at element offset at, without a subarray view when src is exact. */
export function copyIn(view: Float32Array | Int32Array, src: Float32Array | Int32Array, n: number, at: number): void {
  view.set(src.length === n ? src : src.subarray(0, n), at);
}

/** hidden [nToken, dModel] into wasm memory as [nToken, dModelK], pad columns zero (the kernels' K % 4 == 0). */
export function copyHidden(f32: Float32Array, hidden: Float32Array, nToken: number, dModel: number, dModelK: number, at: number): void {
  if (dModelK === dModel) {
    copyIn(f32, hidden, nToken * dModel, at);
    return;
  }
  for (let t = 0; t < nToken; t++) {
    const o = at + t * dModelK;
    f32.set(hidden.subarray(t * dModel, (t + 1) * dModel), o);
    f32.fill(0, o + dModel, o + dModelK);
  }
}

export class WasmHeap {
  private readonly memory: WebAssembly.Memory;
  /** End of the used part of memory; blocks are taken from the free list first, then from here. */
  private top: number;
  /** Free blocks sorted by address (parallel arrays: start, byte size). */
  private readonly freeStart: number[] = [];
  private readonly freeSize: number[] = [];
  /** Live blocks: start → byte size, so a release cannot free the wrong size or free twice. */
  private readonly live = new Map<number, number>();
  private viewF32: Float32Array;
  private viewI32: Int32Array;
  private viewF64: Float64Array;
  private viewU16: Uint16Array;
  private viewI8: Int8Array;
  private viewU8: Uint8Array;

  constructor(memory: WebAssembly.Memory, heapBase: number) {
    this.memory = memory;
    // Keep address 0 unused so 0 can mean "no buffer" (e.g. no router bias).
    this.top = align16(Math.max(heapBase, ALIGN));
    this.viewF32 = new Float32Array(memory.buffer);
    this.viewI32 = new Int32Array(memory.buffer);
    this.viewF64 = new Float64Array(memory.buffer);
    this.viewU16 = new Uint16Array(memory.buffer);
    this.viewI8 = new Int8Array(memory.buffer);
    this.viewU8 = new Uint8Array(memory.buffer);
  }

  /** f32 view of the whole memory, re-created when growth has detached the previous buffer. */
  get f32(): Float32Array {
    if (this.viewF32.buffer !== this.memory.buffer) this.remap();
    return this.viewF32;
  }

  get i32(): Int32Array {
    if (this.viewI32.buffer !== this.memory.buffer) this.remap();
    return this.viewI32;
  }

  /** f64 view, for the few scalars kernels return through memory (stats, losses). */
  get f64(): Float64Array {
    if (this.viewF64.buffer !== this.memory.buffer) this.remap();
    return this.viewF64;
  }

  /** u16 view (f16 weight bits). */
  get u16(): Uint16Array {
    if (this.viewU16.buffer !== this.memory.buffer) this.remap();
    return this.viewU16;
  }

  /** i8 view (int8 weights). */
  get i8(): Int8Array {
    if (this.viewI8.buffer !== this.memory.buffer) this.remap();
    return this.viewI8;
  }

  /** u8 view (checkpoint bytes the module decodes). */
  get u8(): Uint8Array {
    if (this.viewU8.buffer !== this.memory.buffer) this.remap();
    return this.viewU8;
  }

  private remap(): void {
    this.viewF32 = new Float32Array(this.memory.buffer);
    this.viewI32 = new Int32Array(this.memory.buffer);
    this.viewF64 = new Float64Array(this.memory.buffer);
    this.viewU16 = new Uint16Array(this.memory.buffer);
    this.viewI8 = new Int8Array(this.memory.buffer);
    this.viewU8 = new Uint8Array(this.memory.buffer);
  }

  /** A 16-byte aligned block of at least `bytes` bytes (contents undefined). */
  alloc(bytes: number): number {
    const size = align16(Math.max(bytes, ALIGN));
    for (let i = 0; i < this.freeStart.length; i++) {
      if (this.freeSize[i] < size) continue;
      const ptr = this.freeStart[i];
      if (this.freeSize[i] === size) {
        this.freeStart.splice(i, 1);
        this.freeSize.splice(i, 1);
      } else {
        this.freeStart[i] += size;
        this.freeSize[i] -= size;
      }
      this.live.set(ptr, size);
      return ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + size);
    this.top = ptr + size;
    this.live.set(ptr, size);
    return ptr;
  }

  /** Returns a block from alloc(); unknown or already released pointers are ignored. */
  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) return;
    this.live.delete(ptr);
    let i = 0;
    while (i < this.freeStart.length && this.freeStart[i] < ptr) i++;
    this.freeStart.splice(i, 0, ptr);
    this.freeSize.splice(i, 0, size);
    // Coalesce with the next block, then with the previous one.
    if (i + 1 < this.freeStart.length && ptr + this.freeSize[i] === this.freeStart[i + 1]) {
      this.freeSize[i] += this.freeSize[i + 1];
      this.freeStart.splice(i + 1, 1);
      this.freeSize.splice(i + 1, 1);
    }
    if (i > 0 && this.freeStart[i - 1] + this.freeSize[i - 1] === this.freeStart[i]) {
      this.freeSize[i - 1] += this.freeSize[i];
      this.freeStart.splice(i, 1);
      this.freeSize.splice(i, 1);
      i--;
    }
    // A free block at the end gives its space back to the bump region.
    if (i === this.freeStart.length - 1 && this.freeStart[i] + this.freeSize[i] === this.top) {
      this.top = this.freeStart[i];
      this.freeStart.pop();
      this.freeSize.pop();
    }
  }

  /** Grows memory so that [0, end) is addressable. */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > MAX_BYTES) {
      throw new SwitchyardError('limits', 'wasm memory',
        `expected at most ${MAX_BYTES} bytes of WASM memory (wasm32), a call needs ${end}`);
    }
    const pages = Math.ceil((end - have) / PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new SwitchyardError('limits', 'wasm memory',
        `expected to grow WASM memory from ${have} to ${have + pages * PAGE_BYTES} bytes, the engine refused (${String(e)})`);
    }
    this.remap();
  }
}

/**
 * Per-call scratch: one heap block reused across calls, replaced only when a call needs more. A call
 * first reserves the total span, then takes regions in order; each region is followed by a guard.
 */
export class Scratch {
  private readonly heap: WasmHeap;
  private ptr = 0;
  private capacity = 0;
  private cursor = 0;
  /** Byte offsets of the guards written by the current call (at most MAX_REGIONS + 1). */
  private readonly guards = new Float64Array(MAX_REGIONS + 1);
  private nGuard = 0;
  /**
   * Times a call found the block too small and took a larger one: fresh pages, whose first writes fault
   * them in (milliseconds per MB on some machines). The planner reads it to tell such a run from a warm one.
   */
  reallocations = 0;

  constructor(heap: WasmHeap) {
    this.heap = heap;
  }

  /** Bytes a region of `bytes` occupies, guard included; sum these for reserve(). */
  static span(bytes: number): number {
    return align16(bytes) + ALIGN;
  }

  /** Starts a call needing `bytes` (a sum of span()s); writes the leading guard. */
  reserve(bytes: number): void {
    const need = bytes + ALIGN;
    if (need > this.capacity) {
      if (this.capacity > 0) this.heap.release(this.ptr);
      this.capacity = 0;
      // Headroom of 1/4 so a slowly growing batch does not re-allocate on every call.
      const size = align16(need + (need >> 2));
      this.ptr = this.heap.alloc(size);
      this.capacity = size;
      this.reallocations++;
    }
    this.cursor = this.ptr;
    this.nGuard = 0;
    this.writeGuard();
  }

  /** The next region of `bytes` bytes, followed by a guard. */
  take(bytes: number): number {
    const ptr = this.cursor;
    this.cursor += align16(bytes);
    if (this.cursor + ALIGN > this.ptr + this.capacity || this.nGuard >= this.guards.length) {
      throw new SwitchyardError('backend', 'wasm scratch', 'internal error: a call took more scratch than it reserved');
    }
    this.writeGuard();
    return ptr;
  }

  private writeGuard(): void {
    this.heap.i32.fill(GUARD_WORD, this.cursor >>> 2, (this.cursor >>> 2) + GUARD_WORDS);
    this.guards[this.nGuard++] = this.cursor;
    this.cursor += ALIGN;
  }

  /** Throws if a kernel wrote outside its regions during this call. */
  check(kernel: string): void {
    const i32 = this.heap.i32;
    for (let g = 0; g < this.nGuard; g++) {
      const w = this.guards[g] >>> 2;
      for (let i = 0; i < GUARD_WORDS; i++) {
        if (i32[w + i] !== GUARD_WORD) {
          throw new SwitchyardError('backend', 'wasm',
            `kernel ${kernel} wrote outside its buffers (guard ${g} at byte ${this.guards[g]} overwritten)`);
        }
      }
    }
  }
}
