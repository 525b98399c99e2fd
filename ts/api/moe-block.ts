// A MoE block bound to one execution path: routes, runs the experts over the plan, combines.
import { SwitchyardError, describe } from '../errors.js';
import type { CpuBackend, PreparedExperts } from '../backends/backend.js';
import type { GpuMoEBlock } from '../backends/webgpu.js';
import type { ForwardOptions, ForwardResult, MoE, MoEConfig, ResolvedBackend } from '../spec/types.js';
import type { ResolvedMoE } from '../spec/moe-config.js';
import { allFinite, positiveInteger } from '../spec/check.js';
import { sequenceLengthOf, tokenIdsOf } from '../spec/router-input.js';
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import { assembleRouting } from './routing-result.js';
import { addInto, sharedExpertPlan } from './shared-expert.js';

/** Where the block's weights live now. */
export type BoundPath =
  | { kind: 'cpu'; backend: CpuBackend; experts: PreparedExperts; shared: { experts: PreparedExperts; gate: Float32Array | undefined } | undefined }
  | { kind: 'gpu'; block: GpuMoEBlock; cpu: CpuBackend; routesOnDevice: boolean };

/** The vocabulary a hash table covers, so out-of-range token ids are refused before lookup. */
function vocabOf(router: ResolvedRouterSpec): number | undefined {
  return router.kind === 'hash' && router.table ? router.table.length / router.topK : undefined;
}

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
    const tokenIds = options.tokenIds === undefined ? undefined : tokenIdsOf(options.tokenIds, nToken, vocabOf(router), 'options.tokenIds');
    if (router.kind === 'hash' && !tokenIds) {
      throw new SwitchyardError('shape', 'options.tokenIds', `router 'hash' reads token ids, expected an Int32Array [tokens=${nToken}], received undefined`);
    }
    const data: RouterData = {
      nToken, sequenceLength, logits: undefined, hidden, dModel,
      weight: this.resolved.routerWeight, bias: this.resolved.routerBias, tokenIds,
    };
    if (path.kind === 'gpu') {
      try {
        return await this.forwardOnGpu(path, hidden, data);
      } catch (e) {
        if (!(e instanceof SwitchyardError && e.code === 'device-lost')) throw e;
        await this.recoverFromLostDevice(e);
        return this.forward(hidden, options);
      }
    }
    const { backend, experts } = path;
    const routing = backend.route(router, data);
    const output = backend.runExperts(experts, hidden, nToken, routing.plan);
    if (path.shared) {
      const plan = sharedExpertPlan(hidden, nToken, dModel, path.shared.gate);
      addInto(output, backend.runExperts(path.shared.experts, hidden, nToken, plan));
    }
    return { output, routing: { ...routing, backend: backend.name } };
  }

  private async forwardOnGpu(path: Extract<BoundPath, { kind: 'gpu' }>, hidden: Float32Array, data: RouterData): Promise<ForwardResult> {
    const { router } = this.resolved;
    if (path.routesOnDevice) {
      const r = await path.block.forward(hidden, data.nToken);
      const dims = { nToken: data.nToken, nExpert: router.numExperts, nExpertUsed: router.topK, sequenceLength: data.sequenceLength };
      return { output: r.output, routing: assembleRouting(r, dims, path.cpu, 'webgpu') };
    }
    // Routers the device kernel does not implement run on the CPU; the experts still run on the GPU.
    const routing = path.cpu.route(router, data);
    const nExpertUsed = routing.indices.length / data.nToken;
    const r = await path.block.forward(hidden, data.nToken, { routing: { indices: routing.indices, weights: routing.weights, nExpertUsed } });
    return { output: r.output, routing: { ...routing, backend: path.cpu.name } };
  }

  destroy(): void {
    const path = this.path;
    this.path = undefined;
    if (path?.kind === 'cpu') {
      path.experts.destroy();
      path.shared?.experts.destroy();
    }
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
