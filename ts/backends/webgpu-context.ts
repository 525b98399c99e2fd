// The context every WebGPU kernel call runs in: cached pipelines, bind groups by binding name, buffer sets,
// one call at a time, and errors or a lost device surfaced as SwitchyardError. Moved out of
// ts/runtime/gpu-device.ts (which now only acquires devices) so each file holds one concept.
import { SwitchyardError } from '../errors.js';
import { foldGrid } from '../kernels/wgsl.js';
import { checkGemmTiles, defaultGemmTiles, type GemmTiles } from '../kernels/grouped-gemm.js';
import { deviceDescription } from '../runtime/gpu-device.js';

/** Buffers created together and destroyed together (a block's weights, its activations, a call's temporaries). */
export interface BufferSet {
  /** A storage buffer of `bytes` (≥ 4), checked against the device's binding limit. */
  storage(bytes: number, label?: string): GPUBuffer;
  uniform(bytes: number): GPUBuffer;
  /** A storage buffer holding `data` (f32 values, or f16 bits as a Uint16Array). */
  upload(data: Float32Array | Uint16Array | Uint32Array): GPUBuffer;
  destroy(): void;
}

interface Kernel {
  readonly name: string;
  readonly code: string;
  readonly bindings: readonly string[];
}

/**
 * Compiled pipelines per device, shared by every context on it: software adapters (lavapipe) spend tens
 * of milliseconds compiling each, and two backends on one device (say GEMM-only and decode) need the same.
 */
/**
 * GPUBufferUsage and GPUMapMode flags by their values in the WebGPU spec, not the runtime's globals: a
 * device injected from an npm binding (node-webgpu) works without its globals installed.
 */
const BUFFER_USAGE = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, UNIFORM: 0x0040, STORAGE: 0x0080 } as const;
const MAP_MODE_READ = 0x0001;

const pipelineCaches = new WeakMap<GPUDevice, WeakMap<Kernel, Map<string, Promise<GPUComputePipeline>>>>();

/** How long a failed call waits for device.lost to settle before reporting the failure as it is. */
const LOSS_GRACE_MS = 250;

/**
 * What every WebGPU call needs around its kernels: cached pipelines, bind groups by binding name, grids
 * folded under the per-dimension limit, one call at a time, and device loss or validation errors
 * surfaced as SwitchyardError instead of silent zeros.
 */
export class GpuContext {
  /** Bytes one expert-weight buffer may hold: the device limits, or a smaller bound for tests. */
  readonly maxWeightBindingBytes: number;
  /** Tile sizes of the grouped GEMMs, checked against the device's limits. */
  readonly gemmTiles: GemmTiles;
  /** Per kernel object (one per WGSL variant, e.g. f32 or f16 weights), per override constants. */
  private readonly pipelines: WeakMap<Kernel, Map<string, Promise<GPUComputePipeline>>>;
  private lostInfo: GPUDeviceLostInfo | undefined;
  private uncaptured: GPUError | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private staging: GPUBuffer | undefined;
  /**
   * Buffers this device's blocks re-made larger for a larger call so far (staging, activations): a run
   * that made any paid for allocation and first use, not only for its work (GpuMoEBlock.oneTimeWork).
   */
  reallocations = 0;

  constructor(readonly device: GPUDevice, maxBindingBytes?: number, gemmTiles?: GemmTiles) {
    const cache = pipelineCaches.get(device) ?? new WeakMap<Kernel, Map<string, Promise<GPUComputePipeline>>>();
    pipelineCaches.set(device, cache);
    this.pipelines = cache;
    const limits = device.limits;
    this.maxWeightBindingBytes = Math.min(maxBindingBytes ?? Infinity, limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    // One tile choice per device, by what the adapter is (CPU-emulated or not), unless the caller picks.
    this.gemmTiles = checkGemmTiles(limits, gemmTiles ?? defaultGemmTiles(deviceDescription(device)));
    void device.lost.then((info) => (this.lostInfo = info));
    device.addEventListener('uncapturederror', this.onUncaptured);
  }

  /** Releases the staging buffer and the error listener; the device stays with its owner. */
  dispose(): void {
    this.device.removeEventListener('uncapturederror', this.onUncaptured);
    this.staging?.destroy();
    this.staging = undefined;
  }

  private readonly onUncaptured = (ev: Event): void => {
    this.uncaptured ??= (ev as GPUUncapturedErrorEvent).error;
  };

  pipeline(kernel: Kernel, constants: Record<string, number>): Promise<GPUComputePipeline> {
    const key = JSON.stringify(constants);
    const cache = this.pipelines.get(kernel) ?? new Map<string, Promise<GPUComputePipeline>>();
    this.pipelines.set(kernel, cache);
    let p = cache.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ label: kernel.name, code: kernel.code });
      p = this.device.createComputePipelineAsync({
        label: kernel.name,
        layout: 'auto',
        compute: { module, entryPoint: kernel.name, constants },
      }).catch((e: unknown) => {
        cache.delete(key);
        throw new SwitchyardError('backend', `gpu/${kernel.name}.wgsl`, `pipeline creation failed: ${(e as Error).message}`);
      });
      cache.set(key, p);
    }
    return p;
  }

  /** A bind group from buffers named as in the kernel's binding list; a missing name throws. */
  bindGroup(kernel: Kernel, pipeline: GPUComputePipeline, buffers: Record<string, GPUBuffer>): GPUBindGroup {
    return this.device.createBindGroup({
      label: kernel.name,
      layout: pipeline.getBindGroupLayout(0),
      entries: kernel.bindings.map((name, binding) => {
        const buffer = buffers[name];
        if (!buffer) throw new SwitchyardError('backend', `gpu/${kernel.name}.wgsl`, `no buffer for binding '${name}'`);
        return { binding, resource: { buffer } };
      }),
    });
  }

  dispatch(pass: GPUComputePassEncoder, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, nWorkgroup: number): void {
    const [x, y] = foldGrid(nWorkgroup, this.device.limits.maxComputeWorkgroupsPerDimension);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
  }

  buffers(): BufferSet {
    const device = this.device;
    const owned: GPUBuffer[] = [];
    const bindingLimit = device.limits.maxStorageBufferBindingSize;
    const make = (size: number, usage: number, label?: string) => {
      const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
      owned.push(buffer);
      return buffer;
    };
    const storageUsage = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC;
    return {
      storage(bytes, label) {
        if (bytes > bindingLimit) {
          throw new SwitchyardError('limits', label ?? 'buffer', `${bytes} bytes exceed maxStorageBufferBindingSize ${bindingLimit}`);
        }
        return make(bytes, storageUsage, label);
      },
      uniform: (bytes) => make(bytes, BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST),
      upload(data) {
        const buffer = make(data.byteLength, storageUsage);
        if (data instanceof Float32Array) {
          writeFloats(device, buffer, data, data.length);
        } else if (data instanceof Uint32Array) {
          writeWords(device, buffer, data, data.length);
        } else {
          // writeBuffer copies whole 4-byte words: an odd count of f16 values goes with one zero pad.
          const even = data.length % 2 === 0 ? unshared(data, data.length) : Uint16Array.from({ length: data.length + 1 }, (_, i) => data[i] ?? 0);
          device.queue.writeBuffer(buffer, 0, even as Uint16Array<ArrayBuffer>, 0, even.length);
        }
        return buffer;
      },
      destroy() {
        for (const b of owned.splice(0)) b.destroy();
      },
    };
  }

  /** Runs `fn` after every earlier call has finished: calls share activation and staging buffers. */
  serial<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.guard(what, fn));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Runs `fn`, turning a lost device or a stray GPU error into SwitchyardError. */
  async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.throwIfBroken(what);
    try {
      return await fn();
    } catch (e) {
      await this.settleLoss();
      this.throwIfBroken(what);
      if (e instanceof SwitchyardError) throw e;
      throw new SwitchyardError('backend', what, (e as Error).message ?? String(e));
    }
  }

  /**
   * Encodes one compute pass, copies `sources` (each its first `sizes[i]` bytes, default all) into the
   * staging buffer, submits once, and returns a copy of each.
   */
  async submitAndRead(encodePass: (pass: GPUComputePassEncoder) => void, sources: GPUBuffer[], sizes?: number[]): Promise<ArrayBuffer[]> {
    const device = this.device;
    const bytes = sources.map((b, i) => sizes?.[i] ?? b.size);
    const total = bytes.reduce((a, b) => a + b, 0);
    if (!this.staging || this.staging.size < total) {
      this.staging?.destroy();
      this.staging = device.createBuffer({ label: 'staging', size: Math.max(16, total), usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
      this.reallocations++;
    }
    const staging = this.staging;
    const scopes: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];
    for (const s of scopes) device.pushErrorScope(s);
    let offset = 0;
    let mapped: Promise<void>;
    try {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      encodePass(pass);
      pass.end();
      sources.forEach((b, i) => {
        encoder.copyBufferToBuffer(b, 0, staging, offset, bytes[i]);
        offset += bytes[i];
      });
      device.queue.submit([encoder.finish()]);
      mapped = staging.mapAsync(MAP_MODE_READ, 0, total);
    } catch (e) {
      // Keep the error-scope stack balanced for the next call on this device.
      await Promise.all(scopes.map(() => device.popErrorScope()));
      throw e;
    }
    const errors = await Promise.all(scopes.map(() => device.popErrorScope()));
    const error = errors.find((e) => e !== null);
    if (error) {
      await mapped.then(() => staging.unmap(), () => undefined);
      throw new SwitchyardError('backend', 'webgpu', `${error.constructor.name}: ${error.message}`);
    }
    await mapped;
    const view = staging.getMappedRange(0, total);
    const out: ArrayBuffer[] = [];
    offset = 0;
    for (const n of bytes) {
      out.push(view.slice(offset, offset + n));
      offset += n;
    }
    staging.unmap();
    return out;
  }

  /**
   * After a failed call: waits briefly for device.lost when the device may be going. A destroyed device
   * fails its next commands at once (a validation error), while its lost promise can settle a little
   * later (Deno): without this the call would report a GPU error, not a lost device that the block
   * survives by moving to the CPU. Only failed calls wait, and a device that is not lost costs
   * LOSS_GRACE_MS once per error.
   */
  private async settleLoss(): Promise<void> {
    if (this.lostInfo) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, LOSS_GRACE_MS)));
    await Promise.race([this.device.lost.then((info) => { this.lostInfo = info; }), grace]);
    clearTimeout(timer);
  }

  private throwIfBroken(what: string): void {
    if (this.lostInfo) {
      throw new SwitchyardError('device-lost', what, `GPU device lost (${this.lostInfo.reason}): ${this.lostInfo.message}`);
    }
    if (this.uncaptured) {
      const e = this.uncaptured;
      this.uncaptured = undefined;
      throw new SwitchyardError('backend', what, `uncaptured GPU error: ${e.message}`);
    }
  }
}

/**
 * The first `count` values of `data` in a view of an ordinary ArrayBuffer: `data` itself, or a copy when it
 * lives in shared memory (a SharedArrayBuffer, a shared WebAssembly.Memory). Dawn's writeBuffer (the `webgpu`
 * package) crashes the process on a shared view instead of copying it, and a caller may well hand us one.
 */
function unshared<A extends Float32Array | Int32Array | Uint32Array | Uint16Array>(data: A, count: number): A {
  return data.buffer instanceof ArrayBuffer ? data : (data.slice(0, count) as A);
}

/** Writes the first `count` values of `data` to `buffer`. */
export function writeFloats(device: GPUDevice, buffer: GPUBuffer, data: Float32Array, count: number): void {
  device.queue.writeBuffer(buffer, 0, unshared(data, count) as Float32Array<ArrayBuffer>, 0, count);
}

/** Writes the first `count` 32-bit integers of `data` to `buffer` (indices, row lists, offsets). */
export function writeWords(device: GPUDevice, buffer: GPUBuffer, data: Int32Array | Uint32Array, count: number): void {
  device.queue.writeBuffer(buffer, 0, unshared(data, count) as Int32Array<ArrayBuffer>, 0, count);
}
