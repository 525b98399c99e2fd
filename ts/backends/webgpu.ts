// The WebGPU path. A block runs router → gather → grouped GEMM up → grouped GEMM down → combine as one
// command submission with no read-back in between (docs/runtimes §0.1: a mid-layer read-back serialises
// the GPU), then reads every result from one staging buffer. Weights are uploaded once per block; a
// stacked [nExpert, dFF, dModel] tensor larger than the storage binding limit is split into groups of
// whole experts, one buffer and one dispatch per group.
import { SwitchyardError } from '../errors.js';
import { deviceDescription, GpuContext, writeFloats, type BufferSet } from '../runtime/gpu-device.js';
import type { ExpertWeights, TopKSoftmaxArgs, TopKSoftmaxResult } from './backend.js';
import type { DispatchPlan } from '../spec/types.js';
import { routerTopk, routerTopkConstants, routerTopkWorkgroups } from '../kernels/router-topk.js';
import { GATHER_BY_EXPERT_CONSTANTS, gatherByExpert, gatherByExpertWorkgroups } from '../kernels/gather-by-expert.js';
import { expertFfnUp, FFN_TILES, groupedGemmWorkgroups } from '../kernels/expert-ffn-up.js';
import { expertFfnDown } from '../kernels/expert-ffn-down.js';
import { COMBINE_CONSTANTS, combine, combineWorkgroups } from '../kernels/combine.js';
import { EXPERT_MATVEC_CONSTANTS, expertMatvec, expertMatvecTiles, expertMatvecWorkgroups } from '../kernels/expert-matvec.js';
import { ceilDiv } from '../kernels/wgsl.js';

export interface WebGpuBackendOptions {
  /**
   * Upper bound on the bytes of one expert-weight buffer, below the device's maxStorageBufferBindingSize
   * and maxBufferSize. Tests set it small to exercise the weight split on small shapes.
   */
  maxBindingBytes?: number;
  /**
   * Up to this many tokens the experts run as per-assignment mat-vecs (expert_matvec) instead of the
   * grouped GEMMs, whose 16-row tiles would be nearly empty. Default 1 (decode); 0 always uses the GEMMs.
   */
  matvecMaxTokens?: number;
}

export interface GpuMoEBlockWeights {
  /** [nExpert, dModel] */
  routerWeight: Float32Array;
  /** [nExpert] or undefined */
  routerBias?: Float32Array;
  experts: ExpertWeights;
  /** k, 1 ≤ k ≤ nExpert */
  nExpertUsed: number;
  normalize: boolean;
  scale: number;
}

export interface GpuMoEBlockOutput {
  /** [nToken, dModel] */
  output: Float32Array;
  /** [nToken, nExpert] */
  logits: Float32Array;
  /** [nToken, nExpert] */
  probs: Float32Array;
  /** [nToken, nExpertUsed] */
  indices: Int32Array;
  /** [nToken, nExpertUsed] */
  weights: Float32Array;
  /** The plan gather_by_expert built on the device; only when asked for (it costs a larger read-back). */
  plan?: DispatchPlan;
}

export interface GpuMoEBlock {
  /**
   * @param hidden [nToken, dModel]
   * @param options.plan also read back the device's dispatch plan (tests, routing reports)
   */
  forward(hidden: Float32Array, nToken: number, options?: { plan?: boolean }): Promise<GpuMoEBlockOutput>;
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
    this.ctx = new GpuContext(device, options.maxBindingBytes);
    this.adapterInfo = deviceDescription(device);
    this.matvecMaxTokens = options.matvecMaxTokens ?? 1;
  }

  /** Compiles the router pipeline up front so a broken device or shader fails here, not mid-forward. */
  static async create(device: GPUDevice, options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const backend = new WebGpuBackend(device, options);
    await backend.ctx.guard('create', () => backend.ctx.pipeline(routerTopk, routerTopkConstants(1)));
    return backend;
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

  /** Uploads a block's weights and returns its forward pass. */
  prepareBlock(w: GpuMoEBlockWeights): GpuMoEBlock {
    const block = new Block(this.ctx, w, this.matvecMaxTokens, () => this.blocks.delete(block));
    this.blocks.add(block);
    return block;
  }

  /** Frees every block's buffers; the device stays with its owner. */
  destroy(): void {
    for (const block of [...this.blocks]) block.destroy();
    this.ctx.dispose();
  }
}

/** Activation buffers of a block, sized for `capacity` tokens and reused while nToken ≤ capacity. */
interface Activations {
  capacity: number;
  set: BufferSet;
  hidden: GPUBuffer;
  bindGroups: {
    router: GPUBindGroup; gather: GPUBindGroup; up: GPUBindGroup[]; down: GPUBindGroup[]; combine: GPUBindGroup;
    matvecUp: GPUBindGroup[]; matvecDown: GPUBindGroup[];
  };
  /** Sources of the read-back, in staging order: output, logits, probs, indices, weights, then the plan. */
  results: GPUBuffer[];
}

interface ExpertGroup {
  base: number;
  count: number;
  gate: GPUBuffer;
  up: GPUBuffer;
  down: GPUBuffer;
}

class Block implements GpuMoEBlock {
  private readonly nExpert: number;
  private readonly nExpertUsed: number;
  private readonly dModel: number;
  private readonly dFF: number;
  private readonly weights: BufferSet;
  private readonly uniforms: {
    router: GPUBuffer; gather: GPUBuffer; up: GPUBuffer[]; down: GPUBuffer[]; combine: GPUBuffer;
    matvecUp: GPUBuffer[]; matvecDown: GPUBuffer[];
  };
  private readonly router: { weight: GPUBuffer; bias: GPUBuffer };
  private readonly groups: ExpertGroup[];
  private readonly pipelines: Promise<GPUComputePipeline[]>;
  private act: Activations | undefined;
  private destroyed = false;

  constructor(private readonly ctx: GpuContext, private readonly w: GpuMoEBlockWeights,
    private readonly matvecMaxTokens: number, private readonly onDestroy: () => void) {
    const { nExpert, dModel, dFF } = w.experts;
    this.nExpert = nExpert;
    this.dModel = dModel;
    this.dFF = dFF;
    this.nExpertUsed = w.nExpertUsed;
    checkShapes(w);

    const set = (this.weights = ctx.buffers());
    this.router = {
      weight: set.upload(w.routerWeight),
      // A bias binding must exist even when the router has none; has_bias = 0 keeps it unread.
      bias: w.routerBias ? set.upload(w.routerBias) : set.storage(4),
    };
    const perExpertBytes = dFF * dModel * 4;
    const perGroup = Math.floor(ctx.maxWeightBindingBytes / perExpertBytes);
    if (perGroup < 1) {
      throw new SwitchyardError('limits', 'experts', `one expert's [dFF, dModel] = ${perExpertBytes} bytes exceeds the ` +
        `storage binding limit of ${ctx.maxWeightBindingBytes} bytes`);
    }
    this.groups = [];
    for (let base = 0; base < nExpert; base += perGroup) {
      const count = Math.min(perGroup, nExpert - base);
      const range = (a: Float32Array) => a.subarray(base * dFF * dModel, (base + count) * dFF * dModel);
      this.groups.push({ base, count, gate: set.upload(range(w.experts.gate)), up: set.upload(range(w.experts.up)),
        down: set.upload(range(w.experts.down)) });
    }
    this.uniforms = {
      router: set.uniform(routerTopk.params.byteSize),
      gather: set.uniform(gatherByExpert.params.byteSize),
      up: this.groups.map(() => set.uniform(expertFfnUp.params.byteSize)),
      down: this.groups.map(() => set.uniform(expertFfnDown.params.byteSize)),
      combine: set.uniform(combine.params.byteSize),
      matvecUp: this.groups.map(() => set.uniform(expertMatvec.params.byteSize)),
      matvecDown: this.groups.map(() => set.uniform(expertMatvec.params.byteSize)),
    };
    this.pipelines = Promise.all([
      ctx.pipeline(routerTopk, routerTopkConstants(nExpert)),
      ctx.pipeline(gatherByExpert, GATHER_BY_EXPERT_CONSTANTS),
      ctx.pipeline(expertFfnUp, { ...FFN_TILES }),
      ctx.pipeline(expertFfnDown, { ...FFN_TILES }),
      ctx.pipeline(combine, COMBINE_CONSTANTS),
      ctx.pipeline(expertMatvec, EXPERT_MATVEC_CONSTANTS),
    ]);
    // Forward awaits these; an unobserved rejection before then must not crash the process.
    this.pipelines.catch(() => undefined);
  }

  forward(hidden: Float32Array, nToken: number, options?: { plan?: boolean }): Promise<GpuMoEBlockOutput> {
    if (this.destroyed) return Promise.reject(new SwitchyardError('backend', 'block', 'forward after destroy()'));
    if (!Number.isInteger(nToken) || nToken < 0 || hidden.length < nToken * this.dModel) {
      return Promise.reject(new SwitchyardError('shape', 'hidden',
        `expected [${nToken}, ${this.dModel}] = ${nToken * this.dModel} values, got ${hidden.length}`));
    }
    if (nToken === 0) {
      const f = new Float32Array(0);
      return Promise.resolve({ output: f, logits: f, probs: f, indices: new Int32Array(0), weights: f });
    }
    return this.ctx.serial('forward', () => this.run(hidden, nToken, options?.plan ?? false));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.act?.set.destroy();
    this.weights.destroy();
    this.onDestroy();
  }

  private async run(hidden: Float32Array, nToken: number, withPlan: boolean): Promise<GpuMoEBlockOutput> {
    const pipelines = await this.pipelines;
    const [pRouter, pGather, pUp, pDown, pCombine, pMatvec] = pipelines;
    const { nExpert, nExpertUsed: k, dModel: d, dFF } = this;
    const act = this.activations(nToken, pipelines);
    const matvec = nToken <= this.matvecMaxTokens;
    const q = this.ctx.device.queue;
    const nRow = nToken * k;
    writeFloats(this.ctx.device, act.hidden, hidden, nToken * d);
    q.writeBuffer(this.uniforms.router, 0, routerTopk.params.pack({
      n_token: nToken, n_expert: nExpert, d_model: d, n_expert_used: k, compute_logits: 1,
      has_bias: this.w.routerBias ? 1 : 0, normalize: this.w.normalize ? 1 : 0, scale: this.w.scale,
    }));
    q.writeBuffer(this.uniforms.gather, 0, gatherByExpert.params.pack({ n_slot: nRow, n_expert: nExpert, n_expert_used: k }));
    this.groups.forEach((g, i) => {
      const common = { d_model: d, d_ff: dFF, expert_base: g.base, n_expert_group: g.count };
      q.writeBuffer(this.uniforms.up[i], 0, expertFfnUp.params.pack({ ...common, tiles_n: ceilDiv(dFF, FFN_TILES.TILE_N) }));
      q.writeBuffer(this.uniforms.down[i], 0, expertFfnDown.params.pack({ ...common, tiles_n: ceilDiv(d, FFN_TILES.TILE_N) }));
      const mv = { n_slot: nRow, n_expert_used: k, expert_base: g.base, n_expert_group: g.count };
      q.writeBuffer(this.uniforms.matvecUp[i], 0, expertMatvec.params.pack({
        ...mv, k_dim: d, n_dim: dFF, gated: 1, tiles_n: expertMatvecTiles(dFF) }));
      q.writeBuffer(this.uniforms.matvecDown[i], 0, expertMatvec.params.pack({
        ...mv, k_dim: dFF, n_dim: d, gated: 0, tiles_n: expertMatvecTiles(d) }));
    });
    q.writeBuffer(this.uniforms.combine, 0, combine.params.pack({ n_token: nToken, d_model: d, n_expert_used: k }));

    const ctx = this.ctx;
    const bg = act.bindGroups;
    const sizes = [nToken * d, nToken * nExpert, nToken * nExpert, nRow, nRow, nExpert + 1, nRow, nRow, nRow].map((n) => n * 4);
    const sources = withPlan ? act.results : act.results.slice(0, 5);
    const [output, logits, probs, indices, weights, offsets, rows, rowWeights, rowSlots] = await ctx.submitAndRead((pass) => {
      ctx.dispatch(pass, pRouter, bg.router, routerTopkWorkgroups(nToken));
      ctx.dispatch(pass, pGather, bg.gather, gatherByExpertWorkgroups(nExpert));
      if (matvec) {
        bg.matvecUp.forEach((b) => ctx.dispatch(pass, pMatvec, b, expertMatvecWorkgroups(nRow, dFF)));
        bg.matvecDown.forEach((b) => ctx.dispatch(pass, pMatvec, b, expertMatvecWorkgroups(nRow, d)));
      } else {
        this.groups.forEach((g, i) => ctx.dispatch(pass, pUp, bg.up[i], groupedGemmWorkgroups(nRow, g.count, dFF, FFN_TILES)));
        this.groups.forEach((g, i) => ctx.dispatch(pass, pDown, bg.down[i], groupedGemmWorkgroups(nRow, g.count, d, FFN_TILES)));
      }
      ctx.dispatch(pass, pCombine, bg.combine, combineWorkgroups(nToken, d));
    }, sources, sizes);
    const result: GpuMoEBlockOutput = {
      output: new Float32Array(output),
      logits: new Float32Array(logits),
      probs: new Float32Array(probs),
      indices: new Int32Array(indices),
      weights: new Float32Array(weights),
    };
    if (withPlan) {
      // Every assignment is routed here (no capacity), so R = nToken · k and the plan arrays are full.
      result.plan = { offsets: new Int32Array(offsets), rows: new Int32Array(rows), weights: new Float32Array(rowWeights),
        slots: new Int32Array(rowSlots) };
    }
    return result;
  }

  /** The activation buffers and their bind groups, reallocated only when nToken outgrows them. */
  private activations(nToken: number, p: GPUComputePipeline[]): Activations {
    if (this.act && this.act.capacity >= nToken) return this.act;
    this.act?.set.destroy();
    const ctx = this.ctx;
    const { nExpert, nExpertUsed: k, dModel: d, dFF } = this;
    const cap = nToken;
    const set = ctx.buffers();
    const a = {
      hidden: set.storage(cap * d * 4, 'hidden [T, dModel]'),
      logits: set.storage(cap * nExpert * 4, 'logits [T, E]'),
      probs: set.storage(cap * nExpert * 4, 'probs [T, E]'),
      indices: set.storage(cap * k * 4, 'indices [T, k]'),
      weights: set.storage(cap * k * 4, 'weights [T, k]'),
      offsets: set.storage((nExpert + 1) * 4, 'offsets [E + 1]'),
      rows: set.storage(cap * k * 4, 'rows [R]'),
      rowWeights: set.storage(cap * k * 4, 'row weights [R]'),
      rowSlots: set.storage(cap * k * 4, 'row slots [R]'),
      slotRow: set.storage(cap * k * 4, 'slot rows [T · k]'),
      h: set.storage(cap * k * dFF * 4, 'h [R, dFF]'),
      y: set.storage(cap * k * d * 4, 'y [R, dModel]'),
      out: set.storage(cap * d * 4, 'output [T, dModel]'),
    };
    const u = this.uniforms;
    this.act = {
      capacity: cap,
      set,
      hidden: a.hidden,
      bindGroups: {
        router: ctx.bindGroup(routerTopk, p[0], { params: u.router, hidden: a.hidden, weight: this.router.weight,
          bias: this.router.bias, logits: a.logits, probs: a.probs, indices: a.indices, weights: a.weights }),
        gather: ctx.bindGroup(gatherByExpert, p[1], { params: u.gather, indices: a.indices, weights: a.weights,
          offsets: a.offsets, rows: a.rows, rowWeights: a.rowWeights, rowSlots: a.rowSlots, slotRow: a.slotRow }),
        up: this.groups.map((g, i) => ctx.bindGroup(expertFfnUp, p[2], { params: u.up[i], x: a.hidden, rows: a.rows,
          offsets: a.offsets, gate: g.gate, up: g.up, h: a.h })),
        down: this.groups.map((g, i) => ctx.bindGroup(expertFfnDown, p[3], { params: u.down[i], h: a.h,
          offsets: a.offsets, down: g.down, y: a.y })),
        combine: ctx.bindGroup(combine, p[4], { params: u.combine, indices: a.indices, weights: a.weights,
          slotRow: a.slotRow, y: a.y, out: a.out }),
        matvecUp: this.groups.map((g, i) => ctx.bindGroup(expertMatvec, p[5], { params: u.matvecUp[i], x: a.hidden,
          indices: a.indices, slotRow: a.slotRow, wA: g.gate, wB: g.up, out: a.h })),
        // wB is unread when not gated; binding `down` twice (read-only both times) keeps one layout.
        matvecDown: this.groups.map((g, i) => ctx.bindGroup(expertMatvec, p[5], { params: u.matvecDown[i], x: a.h,
          indices: a.indices, slotRow: a.slotRow, wA: g.down, wB: g.down, out: a.y })),
      },
      results: [a.out, a.logits, a.probs, a.indices, a.weights, a.offsets, a.rows, a.rowWeights, a.rowSlots],
    };
    return this.act;
  }
}

function checkShapes(w: GpuMoEBlockWeights): void {
  const { nExpert: E, dModel: d, dFF } = w.experts;
  const expect = (name: string, a: Float32Array | undefined, n: number, shape: string) => {
    if (a && a.length !== n) throw new SwitchyardError('shape', name, `expected ${shape} = ${n} values, got ${a.length}`);
  };
  expect('routerWeight', w.routerWeight, E * d, `[${E}, ${d}]`);
  expect('routerBias', w.routerBias, E, `[${E}]`);
  expect('experts.gate', w.experts.gate, E * dFF * d, `[${E}, ${dFF}, ${d}]`);
  expect('experts.up', w.experts.up, E * dFF * d, `[${E}, ${dFF}, ${d}]`);
  expect('experts.down', w.experts.down, E * d * dFF, `[${E}, ${d}, ${dFF}]`);
  if (!Number.isInteger(w.nExpertUsed) || w.nExpertUsed < 1 || w.nExpertUsed > E) {
    throw new SwitchyardError('range', 'nExpertUsed', `expected an integer in [1, ${E}], got ${w.nExpertUsed}`);
  }
}
