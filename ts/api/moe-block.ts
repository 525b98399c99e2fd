// A MoE block bound to one execution path: routes, runs the experts over the plan, combines.
import { SwitchyardError, describe } from '../errors.js';
import type { CpuBackend, PreparedExperts } from '../backends/backend.js';
import type { GpuMoEBlock } from '../backends/webgpu.js';
import type { ForwardOptions, ForwardResult, MoE, MoEConfig, ResolvedBackend } from '../spec/types.js';
import type { ResolvedMoE } from '../spec/moe-config.js';
import { allFinite, positiveInteger } from '../spec/check.js';
import { sequenceLengthOf } from '../spec/router-input.js';
import { assembleRouting } from './routing-result.js';

/** Where the block's weights live now. */
export type BoundPath =
  | { kind: 'cpu'; backend: CpuBackend; experts: PreparedExperts }
  | { kind: 'gpu'; block: GpuMoEBlock; planner: CpuBackend };

export class MoEBlock implements MoE {
  readonly config: MoEConfig;
  private path: BoundPath | undefined;
  private warnedFallback = false;

  constructor(
    config: MoEConfig,
    private readonly resolved: ResolvedMoE,
    path: BoundPath,
    /** Binds the weights to a CPU path after a lost GPU device. */
    private readonly fallback: () => Promise<BoundPath>,
  ) {
    this.config = config;
    this.path = path;
  }

  get backend(): ResolvedBackend {
    const path = this.path;
    if (!path) return 'reference';
    return path.kind === 'gpu' ? 'webgpu' : path.backend.name;
  }

  async forward(hidden: Float32Array, options: ForwardOptions): Promise<ForwardResult> {
    const path = this.path;
    if (!path) throw new SwitchyardError('backend', 'moe', 'forward() called after destroy()');
    if (options === null || typeof options !== 'object') {
      throw new SwitchyardError('shape', 'options', `expected { tokens }, received ${describe(options)}`);
    }
    const nToken = positiveInteger(options.tokens, 'options.tokens');
    const sequenceLength = sequenceLengthOf(options.sequenceLength, nToken, 'options.sequenceLength');
    const { dModel, router } = this.resolved;
    if (!(hidden instanceof Float32Array) || hidden.length !== nToken * dModel) {
      throw new SwitchyardError('shape', 'hidden', `expected a Float32Array [tokens=${nToken}, dModel=${dModel}] = ${nToken * dModel} elements, received ${describe(hidden)}`);
    }
    allFinite(hidden, 'hidden', `[${nToken}, ${dModel}]`);
    const dims = { nToken, nExpert: router.numExperts, nExpertUsed: router.topK, sequenceLength };
    if (path.kind === 'gpu') {
      try {
        const r = await path.block.forward(hidden, nToken);
        return { output: r.output, routing: assembleRouting(r, dims, path.planner, 'webgpu') };
      } catch (e) {
        if (!(e instanceof SwitchyardError && e.code === 'device-lost')) throw e;
        await this.recoverFromLostDevice(e);
        return this.forward(hidden, options);
      }
    }
    const { backend, experts } = path;
    const logits = backend.routerLogits({
      hidden, weight: this.resolved.routerWeight, bias: this.resolved.routerBias, nToken, dModel, nExpert: router.numExperts,
    });
    const selection = backend.topKSoftmax({
      logits, nToken, nExpert: router.numExperts, nExpertUsed: router.topK, normalize: router.normalize, scale: router.scale,
    });
    const routing = assembleRouting({ ...selection, logits }, dims, backend, backend.name);
    const output = backend.runExperts(experts, hidden, nToken, routing.plan);
    return { output, routing };
  }

  destroy(): void {
    const path = this.path;
    this.path = undefined;
    if (path?.kind === 'cpu') path.experts.destroy();
    if (path?.kind === 'gpu') path.block.destroy();
  }

  private async recoverFromLostDevice(cause: SwitchyardError): Promise<void> {
    const lost = this.path;
    this.path = await this.fallback();
    if (lost?.kind === 'gpu') {
      try { lost.block.destroy(); } catch { /* the device is gone; nothing left to release */ }
    }
    if (!this.warnedFallback) {
      this.warnedFallback = true;
      console.warn(`switchyard: WebGPU device lost (${cause.message}); continuing on the ${this.backend} path`);
    }
  }
}
