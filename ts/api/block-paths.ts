// The execution paths one block may run on, each bound to the block's weights when first needed. Under
// `backend: 'auto'` a block has two candidates (the GPU and the best CPU path); holding expert weights on
// both costs memory and preparation time (packing for wasm, an upload for the GPU), so a path is bound
// only when needed: every candidate by the first block of its kind (it will measure them all), and in the
// identical blocks made after it the path their shared plans choose, when they first run it — a path
// those plans ruled out is never bound there.
import type { CpuBackend, PreparedExperts } from '../backends/backend.js';
import type { GpuMoEBlock } from '../backends/webgpu.js';
import type { ResolvedBackend } from '../spec/types.js';

/** A path with the block's weights on it. */
export type BoundPath =
  | { kind: 'cpu'; backend: CpuBackend; experts: PreparedExperts; shared: { experts: PreparedExperts; gate: Float32Array | undefined } | undefined }
  | { kind: 'gpu'; block: GpuMoEBlock; cpu: CpuBackend; routesOnDevice: boolean };

export type Binder = () => Promise<BoundPath>;

export function releasePath(path: BoundPath): void {
  if (path.kind === 'cpu') {
    path.experts.destroy();
    path.shared?.experts.destroy();
  } else {
    path.block.destroy();
  }
}

export class BlockPaths {
  private readonly binders: Map<ResolvedBackend, Binder>;
  private readonly bound = new Map<ResolvedBackend, Promise<BoundPath>>();
  /** The bound paths that have landed, for what must be read without waiting (oneTimeWork). */
  private readonly landed = new Map<ResolvedBackend, BoundPath>();

  constructor(binders: ReadonlyMap<ResolvedBackend, Binder>) {
    this.binders = new Map(binders);
  }

  get names(): ResolvedBackend[] {
    return [...this.binders.keys()];
  }

  /** The path bound to the block's weights, binding it on first use (concurrent callers share one bind). */
  get(name: ResolvedBackend): Promise<BoundPath> {
    let path = this.bound.get(name);
    if (!path) {
      const bind = this.binders.get(name);
      if (!bind) return Promise.reject(new Error(`BlockPaths: no path '${name}'`));
      const bound = bind();
      path = bound;
      this.bound.set(name, bound);
      bound.then((held) => {
        if (this.bound.get(name) === bound) this.landed.set(name, held);
      }, () => this.bound.delete(name));
    }
    return path;
  }

  /**
   * One-time costs paid so far on a bound path (memory or buffers grown for a larger call): a run during
   * which this changed paid for more than its work. 0 for a path not bound yet.
   */
  oneTimeWork(name: ResolvedBackend): number {
    const path = this.landed.get(name);
    if (!path) return 0;
    // A GPU path may route on its CPU backend, whose scratch grows as well.
    return path.kind === 'cpu' ? path.backend.oneTimeWork ?? 0 : path.block.oneTimeWork + (path.cpu.oneTimeWork ?? 0);
  }

  /** Forgets a path (its device was lost) and releases what it held, as far as a dead device allows. */
  async drop(name: ResolvedBackend): Promise<void> {
    const path = this.bound.get(name);
    this.binders.delete(name);
    this.bound.delete(name);
    this.landed.delete(name);
    const held = await path?.catch(() => undefined);
    if (held) {
      try { releasePath(held); } catch { /* the device is gone; nothing left to release */ }
    }
  }

  /** Adds a path (the CPU fallback of a block that ran on the GPU alone). */
  add(name: ResolvedBackend, bind: Binder): void {
    if (!this.binders.has(name)) this.binders.set(name, bind);
  }

  destroy(): void {
    const bound = [...this.bound.values()];
    this.binders.clear();
    this.bound.clear();
    this.landed.clear();
    // A bind still in flight is released when it lands.
    for (const path of bound) void path.then(releasePath, () => undefined);
  }
}
