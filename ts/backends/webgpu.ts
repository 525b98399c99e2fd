// The WebGPU path: its public types and the backend object. A block (ts/backends/webgpu-block.ts) runs
// router → gather → expert up → expert down (→ shared expert) → combine as one command submission with no
// read-back in between; its experts (ts/backends/webgpu-experts.ts) are uploaded once, as f32 or f16,
// split into groups of whole experts when a stacked tensor exceeds the storage binding limit.
import { deviceDescription } from '../runtime/gpu-device.js';
import { GpuContext, writeFloats } from './webgpu-context.js';
import { Block } from './webgpu-block.js';
import type { ExpertWeights, TopKSoftmaxArgs, TopKSoftmaxResult } from './backend.js';
import type { DeviceWeightWriter } from './device-weights.js';
import type { DispatchPlan } from '../spec/types.js';
import type { WeightDtype } from '../kernels/activation.js';
import type { GemmTiles } from '../kernels/grouped-gemm.js';
import { routerTopk, routerTopkConstants, routerTopkWorkgroups } from '../kernels/router-topk.js';

export type { WeightDtype };

export interface WebGpuBackendOptions {
  /**
   * Upper bound on the bytes of one expert-weight buffer, below the device's maxStorageBufferBindingSize
   * and maxBufferSize. Tests set it small to exercise the weight split on small shapes.
   */
  maxBindingBytes?: number;
  /**
   * Up to this many tokens the experts (routed and shared) run as per-assignment mat-vecs (expert_matvec)
   * instead of the grouped GEMMs, whose 16-row tiles would be nearly empty. Default 1 (decode); 0 always
   * uses the GEMMs. Both paths run every activation and bias.
   */
  matvecMaxTokens?: number;
  /**
   * Tile sizes of the grouped GEMMs (default: defaultGemmTiles of the adapter, ts/kernels/grouped-gemm.ts),
   * checked against the device's limits here ('limits' error); backend.gemmTiles says what is used. Tests and benches vary them; results agree within
   * the f32 bounds but are not bit-identical across tile sizes (the k slices change the summation order).
   */
  gemmTiles?: GemmTiles;
}

export interface GpuMoEBlockWeights {
  /** [nExpert, dModel]; needed only when the block routes itself (forward without options.routing). */
  routerWeight?: Float32Array;
  /** [nExpert] or undefined */
  routerBias?: Float32Array;
  /** Routed experts: any activation of ExpertWeights, optional biases. */
  experts: ExpertWeights;
  /** k of the block's own softmax top-k router, 1 ≤ k ≤ nExpert; required with routerWeight. */
  nExpertUsed?: number;
  /** Renormalise the router's top-k weights (default false). */
  normalize?: boolean;
  /** Factor on the router's weights (default 1). */
  scale?: number;
  /**
   * A shared expert run on every token: output = routed + (gate ? σ(x·gate) : 1) · shared(x).
   * experts.nExpert must be 1; gate is [dModel] (Qwen2-MoE's shared_expert_gate); absent = ungated (DeepSeek).
   */
  shared?: { experts: ExpertWeights; gate?: Float32Array };
  /**
   * How expert weights are stored on the device (default 'f32'). 'f16' halves their memory and bandwidth
   * when the device has `shader-f16` (accumulation stays f32); without it the block silently stays f32 —
   * block.weightDtype reports what was used. 'int8' stores them block-wise (32 weights of a row share an
   * f16-rounded scale, ts/formats/q8.ts), on any device. Router weights, biases and the shared gate stay f32.
   */
  weightDtype?: WeightDtype;
  /**
   * What converts expert weights to f16 or int8 (device-weights.ts): a WASM backend's writer, where one is
   * loaded, gives the TypeScript writers' bits several times faster. Absent: the TypeScript writers.
   */
  weightWriter?: DeviceWeightWriter;
}

/** Routing computed elsewhere (capacity-limited, hash, Sinkhorn, grouped/biased routers). */
export interface GpuRouting {
  /** [nToken, nExpertUsed] experts in [0, nExpert), −1 for a dropped or unused slot (contributes nothing) */
  indices: Int32Array;
  /** [nToken, nExpertUsed] mixing weights; ignored where indices is −1 */
  weights: Float32Array;
  nExpertUsed: number;
}

export interface GpuForwardOptions {
  /** Also read back the device's dispatch plan (tests, routing reports). */
  plan?: boolean;
  /** Skip the block's router and run the experts on this routing. */
  routing?: GpuRouting;
}

export interface GpuMoEBlockOutput {
  /** [nToken, dModel] */
  output: Float32Array;
  /** [nToken, nExpert]; empty when options.routing was given */
  logits: Float32Array;
  /** [nToken, nExpert]; empty when options.routing was given */
  probs: Float32Array;
  /** [nToken, nExpertUsed] (a copy of options.routing.indices when given) */
  indices: Int32Array;
  /** [nToken, nExpertUsed] (a copy of options.routing.weights when given) */
  weights: Float32Array;
  /** The plan gather_by_expert built on the device; only when asked for (it costs a larger read-back). */
  plan?: DispatchPlan;
}

export interface GpuMoEBlock {
  /** How the expert weights are stored on the device: 'f16' only if asked for and the device has shader-f16. */
  readonly weightDtype: WeightDtype;
  /**
   * @param hidden [nToken, dModel]
   * @example
   * const block = backend.prepareBlock({ experts, shared: { experts: sharedExperts, gate } });
   * const { output } = await block.forward(hidden, T, { routing: { indices, weights, nExpertUsed: 2 } });
   */
  forward(hidden: Float32Array, nToken: number, options?: GpuForwardOptions): Promise<GpuMoEBlockOutput>;
  /**
   * Settles when the block's pipelines are compiled (rejects as forward would). Binding awaits it, so that
   * shader compilation — tens to hundreds of ms on a software adapter — is paid at load, not by a call.
   */
  ready(): Promise<void>;
  /** One-time costs paid so far on this block's device (buffers re-made larger); as CpuBackend.oneTimeWork. */
  readonly oneTimeWork: number;
  destroy(): void;
}

export class WebGpuBackend {
  readonly name = 'webgpu';
  /** The adapter's "vendor architecture description", for logs. */
  readonly adapterInfo?: string;
  private readonly ctx: GpuContext;
  private readonly blocks = new Set<GpuMoEBlock>();
  private readonly matvecMaxTokens: number;

  private constructor(device: GPUDevice, options: WebGpuBackendOptions) {
    this.ctx = new GpuContext(device, options.maxBindingBytes, options.gemmTiles);
    this.adapterInfo = deviceDescription(device);
    this.matvecMaxTokens = options.matvecMaxTokens ?? 1;
  }

  /** Compiles the router pipeline up front so a broken device or shader fails here, not mid-forward. */
  static async create(device: GPUDevice, options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const backend = new WebGpuBackend(device, options);
    await backend.ctx.guard('create', () => backend.ctx.pipeline(routerTopk, routerTopkConstants(1)));
    return backend;
  }

  /** The grouped GEMMs' tile sizes on this device (options.gemmTiles, or the adapter's default). */
  get gemmTiles(): GemmTiles {
    return this.ctx.gemmTiles;
  }

  /** Whether f16 expert weights are available (the device has `shader-f16`). */
  get supportsF16(): boolean {
    return this.ctx.device.features.has('shader-f16');
  }

  /** Softmax + top-k over given logits [nToken, nExpert]; the logits are returned unchanged. */
  async routeTopKSoftmax(args: TopKSoftmaxArgs): Promise<TopKSoftmaxResult & { logits: Float32Array }> {
    const { nToken, nExpert, nExpertUsed } = args;
    const ctx = this.ctx;
    const empty = new Float32Array(0);
    if (nToken === 0) {
      return { logits: empty, probs: empty, indices: new Int32Array(0), weights: empty };
    }
    return ctx.serial('routeTopKSoftmax', async () => {
      const pipeline = await ctx.pipeline(routerTopk, routerTopkConstants(nExpert));
      const set = ctx.buffers();
      try {
        const b = {
          params: set.uniform(routerTopk.params.byteSize),
          hidden: set.storage(4),
          weight: set.storage(4),
          bias: set.storage(4),
          logits: set.storage(nToken * nExpert * 4),
          probs: set.storage(nToken * nExpert * 4),
          indices: set.storage(nToken * nExpertUsed * 4),
          weights: set.storage(nToken * nExpertUsed * 4),
        };
        const q = ctx.device.queue;
        writeFloats(ctx.device, b.logits, args.logits, nToken * nExpert);
        q.writeBuffer(b.params, 0, routerTopk.params.pack({
          n_token: nToken, n_expert: nExpert, d_model: 0, n_expert_used: nExpertUsed,
          compute_logits: 0, has_bias: 0, normalize: args.normalize ? 1 : 0, scale: args.scale,
        }));
        const [probs, indices, weights] = await ctx.submitAndRead((pass) => {
          ctx.dispatch(pass, pipeline, ctx.bindGroup(routerTopk, pipeline, b), routerTopkWorkgroups(nToken));
        }, [b.probs, b.indices, b.weights], [nToken * nExpert * 4, nToken * nExpertUsed * 4, nToken * nExpertUsed * 4]);
        return {
          logits: args.logits.slice(0, nToken * nExpert),
          probs: new Float32Array(probs),
          indices: new Int32Array(indices),
          weights: new Float32Array(weights),
        };
      } finally {
        set.destroy();
      }
    });
  }

  /**
   * Uploads a block's weights (routed experts, optional router and shared expert) and returns its forward.
   * Shapes are checked here; a SwitchyardError names the argument.
   */
  prepareBlock(w: GpuMoEBlockWeights): GpuMoEBlock {
    const block: GpuMoEBlock = new Block(this.ctx, w, this.matvecMaxTokens, () => this.blocks.delete(block));
    this.blocks.add(block);
    return block;
  }

  /** Frees every block's buffers; the device stays with its owner. */
  destroy(): void {
    for (const block of [...this.blocks]) block.destroy();
    this.ctx.dispose();
  }
}
