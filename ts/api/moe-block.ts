// A MoE block: validates a call, lets its planner pick the path (one path when forced, measured per shape
// class under 'auto'), routes, runs the experts over the plan, combines; falls back to the CPU when the
// GPU device is lost.
import { SwitchyardError, describe } from '../errors.js';
import type { DispatchPlan, ForwardOptions, ForwardResult, MoE, MoEConfig, ResolvedBackend } from '../spec/types.js';
import type { ResolvedMoE } from '../spec/moe-config.js';
import { allFinite, finiteResult, positiveInteger } from '../spec/check.js';
import { sequenceLengthOf, tokenIdsOf } from '../spec/router-input.js';
import { refuseMisspeltFields } from '../spec/misspelt-fields.js';
import { checkScoresSize, slotsPerToken, type ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import { assembleRouting } from './routing-result.js';
import { addInto, sharedExpertPlan } from './shared-expert.js';
import type { BlockPaths, BoundPath } from './block-paths.js';
import type { CpuBackend, PreparedExperts } from '../backends/backend.js';
import { Planner } from './planner.js';

/** What one path returns; forward() adds which path it was. */
type PathResult = Omit<ForwardResult, 'backend'>;

/** The vocabulary a hash table covers, so out-of-range token ids are refused before lookup. */
function vocabOf(router: ResolvedRouterSpec): number | undefined {
  return router.kind === 'hash' && router.table ? router.table.length / router.topK : undefined;
}

/**
 * The router input of a call's first n tokens: what the planner times a path on before running it on the
 * whole call (a probe, ts/api/planner.ts). One sequence of n tokens, since n need not be a multiple of
 * the call's sequence length; the result is only timed, never returned.
 */
function prefixOf(data: RouterData, n: number): RouterData {
  return {
    ...data, nToken: n, sequenceLength: data.sequenceLength === undefined ? undefined : n,
    hidden: data.hidden?.subarray(0, n * data.dModel!), tokenIds: data.tokenIds?.subarray(0, n),
  };
}

export class MoEBlock implements MoE {
  readonly config: MoEConfig;
  private destroyed = false;
  private backendAtDestroy: ResolvedBackend = 'reference';
  /** forward() calls not yet settled. */
  private inFlight = 0;
  /** The path the last forward ran on; undefined before the first and after a lost device. */
  private last: ResolvedBackend | undefined;
  /** Set once the GPU device is lost: the switch to the CPU, which every later call waits for. */
  private recovering: Promise<void> | undefined;
  private warnedFallback = false;
  /** The CPU path the block last ran its experts on (for threadStats). */
  private cpu: CpuBackend | undefined;

  constructor(
    config: MoEConfig,
    private readonly resolved: ResolvedMoE,
    private readonly paths: BlockPaths,
    private planner: Planner<ResolvedBackend>,
    /** Binds the weights to the best CPU path, for a block that ran on the GPU alone and lost its device. */
    private readonly fallback: () => Promise<BoundPath>,
  ) {
    this.config = config;
  }

  /**
   * The path the last forward ran on; before the first call, the path the block prefers (under 'auto',
   * the one that won most shape classes measured for identical blocks, else the GPU when there is one).
   * Under 'auto' two calls of different token counts may run on different paths; each call's
   * `routing.backend` names the path that routed it.
   */
  get backend(): ResolvedBackend {
    return this.destroyed ? this.backendAtDestroy : this.last ?? this.planner.preferred();
  }

  /**
   * Diagnostics outside the MoE contract (tests, benchmarks): the threads of the CPU path this block's
   * experts last ran on — threads running now, that path's calls split over several threads, and the jobs
   * its packings ran on several (all blocks on it together). undefined before the block ran its experts on
   * the CPU.
   */
  get threadStats(): { active: number; threadedCalls: number; threadedPackJobs: number } | undefined {
    const cpu = this.cpu;
    return cpu && { active: cpu.activeThreads ?? 1, threadedCalls: cpu.threadedCalls ?? 0, threadedPackJobs: cpu.threadedPackJobs ?? 0 };
  }

  /**
   * Diagnostics outside the MoE contract (tests): the WASM build the experts last ran on — the relaxed-SIMD
   * one wherever the engine validates it. undefined before the block ran on the WASM path.
   */
  get wasmBuild(): 'simd128' | 'relaxed-simd' | undefined {
    return this.cpu?.variant;
  }

  async forward(hidden: Float32Array, options: ForwardOptions): Promise<ForwardResult> {
    if (this.destroyed) throw new SwitchyardError('backend', 'moe', 'forward() called after destroy()');
    // Calls made before destroy() finish on what they started with: the paths are released after the last.
    this.inFlight++;
    try {
      return await this.forwardNow(hidden, options);
    } finally {
      if (--this.inFlight === 0 && this.destroyed) this.paths.destroy();
    }
  }

  private async forwardNow(hidden: Float32Array, options: ForwardOptions): Promise<ForwardResult> {
    if (options === null || typeof options !== 'object') {
      throw new SwitchyardError('shape', 'options', `expected { tokens }, received ${describe(options)}`);
    }
    refuseMisspeltFields(options, ['tokens', 'tokenIds', 'sequenceLength'], 'options', 'forward options');
    const nToken = positiveInteger(options.tokens, 'options.tokens');
    checkScoresSize(nToken, this.resolved.router.numExperts, 'options.tokens');
    const sequenceLength = sequenceLengthOf(options.sequenceLength, nToken, 'options.sequenceLength');
    const { dModel, router } = this.resolved;
    if (!(hidden instanceof Float32Array)) {
      throw new SwitchyardError('dtype', 'hidden', `expected a Float32Array [tokens=${nToken}, dModel=${dModel}], received ${describe(hidden)}`);
    }
    if (hidden.length !== nToken * dModel) {
      throw new SwitchyardError('shape', 'hidden', `expected a Float32Array [tokens=${nToken}, dModel=${dModel}] = ${nToken * dModel} elements, received ${describe(hidden)}`);
    }
    allFinite(hidden, 'hidden', `[${nToken}, ${dModel}]`);
    // Read as it stands on every call (moe.config.router.selectionBias, updated in place between calls).
    if (router.kind === 'topk' && router.selectionBias) allFinite(router.selectionBias, 'config.router.selectionBias', `[${router.numExperts}]`);
    const tokenIds = options.tokenIds === undefined ? undefined : tokenIdsOf(options.tokenIds, nToken, vocabOf(router), 'options.tokenIds');
    if (router.kind === 'hash' && !tokenIds) {
      throw new SwitchyardError('shape', 'options.tokenIds', `router 'hash' reads token ids, expected an Int32Array [tokens=${nToken}], received undefined`);
    }
    const data: RouterData = {
      nToken, sequenceLength, logits: undefined, hidden, dModel,
      weight: this.resolved.routerWeight, bias: this.resolved.routerBias, tokenIds,
    };
    if (this.recovering) await this.recovering;
    try {
      const { result, path } = await this.planner.run(nToken, (name, n) => n === nToken
        ? this.runOn(name, hidden, data)
        : this.runOn(name, hidden.subarray(0, n * dModel), prefixOf(data, n)));
      this.last = path;
      // Finite inputs can still overflow f32 inside the block (|hidden| ~ 1e30): an error, not ±∞ / NaN.
      finiteResult(result.routing.logits, router.numExperts, 'hidden', 'the router logits (hidden · router.weightᵀ)', hidden);
      finiteResult(result.routing.weights, slotsPerToken(router), 'config.router.scale', 'the routing weights (scores × scale)');
      finiteResult(result.output, dModel, 'hidden', "the block output, and every f32 value on the way to it (hidden through the experts' weights),", hidden);
      return { ...result, backend: path };
    } catch (e) {
      if (!(e instanceof SwitchyardError && e.code === 'device-lost') || !this.recovering) throw e;
      // runOn started the switch to the CPU; this call runs again there (still counted in flight).
      await this.recovering;
      return this.forwardNow(hidden, options);
    }
  }

  private async runOn(name: ResolvedBackend, hidden: Float32Array, data: RouterData): Promise<PathResult> {
    const path = await this.paths.get(name);
    if (path.kind === 'gpu') {
      try {
        return await this.forwardOnGpu(path, hidden, data);
      } catch (e) {
        if (e instanceof SwitchyardError && e.code === 'device-lost') this.recovering ??= this.recoverFromLostDevice(name, e);
        throw e;
      }
    }
    const { backend, experts } = path;
    const { router } = this.resolved;
    const { nToken, dModel } = data;
    this.cpu = backend;
    // Awaited where the path offers it: a threaded wasm path on a thread that may not block awaits its
    // workers there (other calls run meanwhile; the path serializes its own jobs).
    const run = (on: PreparedExperts, plan: DispatchPlan) => backend.runExpertsAsync
      ? backend.runExpertsAsync(on, hidden, nToken, plan)
      : backend.runExperts(on, hidden, nToken, plan);
    const routing = backend.route(router, data);
    const output = await run(experts, routing.plan);
    if (path.shared) {
      const plan = sharedExpertPlan(hidden, nToken, dModel!, path.shared.gate);
      addInto(output, await run(path.shared.experts, plan));
    }
    return { output, routing: { ...routing, backend: backend.name } };
  }

  private async forwardOnGpu(path: Extract<BoundPath, { kind: 'gpu' }>, hidden: Float32Array, data: RouterData): Promise<PathResult> {
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
    if (this.destroyed) return;
    // The path the block last ran on (or would have) stays readable; its planner is gone with the paths.
    this.backendAtDestroy = this.backend;
    this.destroyed = true;
    // Forwards still running release the paths when the last of them settles (forward()).
    if (this.inFlight === 0) this.paths.destroy();
  }

  /**
   * DESIGN.md §4: a lost device falls back to the CPU for the next call and says so once. The block keeps
   * its CPU candidate (or binds one, when it ran on the GPU alone) and stops planning: one path is left.
   */
  private async recoverFromLostDevice(lost: ResolvedBackend, cause: SwitchyardError): Promise<void> {
    await this.paths.drop(lost);
    let cpu: ResolvedBackend | undefined = this.paths.names.find((name) => name !== 'webgpu');
    if (!cpu) {
      const bound = await this.fallback();
      if (bound.kind !== 'cpu') throw new Error('MoEBlock: the fallback path is not a CPU path');
      cpu = bound.backend.name;
      this.paths.add(cpu, () => Promise.resolve(bound));
    }
    this.planner = new Planner<ResolvedBackend>({ candidates: [cpu], key: '' });
    this.last = undefined;
    if (!this.warnedFallback) {
      this.warnedFallback = true;
      console.warn(`switchyard: WebGPU device lost (${cause.message}); continuing on the ${cpu} path`);
    }
  }
}
