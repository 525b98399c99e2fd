// One MoE block on the device. A forward runs [router_topk] → gather_by_expert → routed experts (up,
// down) → [shared_gate] → [shared expert (up, down)] → combine as one command submission with no
// read-back in between (a mid-layer read-back serialises the GPU), then reads every result from one
// staging buffer. With routing given (options.routing) the router is skipped and the indices/weights are
// uploaded instead. The shared expert is a one-expert set whose plan is every token: rows and slot rows
// are the identity, its offsets [0, T], so the routed experts' kernels run it unchanged.
import { SwitchyardError } from '../errors.js';
import type { DispatchPlan } from '../spec/types.js';
import { writeFloats, writeWords, type BufferSet, type GpuContext } from './webgpu-context.js';
import { DeviceExperts, type ExpertBindGroups } from './webgpu-experts.js';
import { typescriptWeightWriter } from './device-weights.js';
import type { GpuForwardOptions, GpuMoEBlock, GpuMoEBlockOutput, GpuMoEBlockWeights, GpuRouting } from './webgpu.js';
import type { WeightDtype } from '../kernels/activation.js';
import { routerTopk, routerTopkConstants, routerTopkWorkgroups } from '../kernels/router-topk.js';
import { GATHER_BY_EXPERT_CONSTANTS, gatherByExpert, gatherByExpertWorkgroups } from '../kernels/gather-by-expert.js';
import { combine, combineConstants, combineWorkgroups } from '../kernels/combine.js';
import { SHARED_GATE_CONSTANTS, sharedGate, sharedGateWorkgroups } from '../kernels/shared-gate.js';

type ExpertPipelines = DeviceExperts['pipelines'] extends Promise<infer P> ? P : never;

interface Pipelines {
  router: GPUComputePipeline | undefined;
  gather: GPUComputePipeline;
  combine: GPUComputePipeline;
  sharedGate: GPUComputePipeline | undefined;
  routed: ExpertPipelines;
  shared: ExpertPipelines | undefined;
}

/** Activation buffers, sized for `tokens` tokens and `slots` assignments, reused while a forward fits. */
interface Activations {
  tokens: number;
  slots: number;
  set: BufferSet;
  hidden: GPUBuffer;
  indices: GPUBuffer;
  weights: GPUBuffer;
  sharedOffsets: GPUBuffer | undefined;
  bindGroups: {
    router: GPUBindGroup | undefined; gather: GPUBindGroup; combine: GPUBindGroup; sharedGate: GPUBindGroup | undefined;
    routed: ExpertBindGroups; shared: ExpertBindGroups | undefined;
  };
  /** Read-back sources: output, logits, probs, indices, weights, then the plan (offsets, rows, weights, slots). */
  out: GPUBuffer;
  routerResults: GPUBuffer[];
  plan: GPUBuffer[];
}

export class Block implements GpuMoEBlock {
  readonly weightDtype: WeightDtype;
  private readonly nExpert: number;
  private readonly dModel: number;
  private readonly weights: BufferSet;
  private readonly none: GPUBuffer;
  private readonly router: { weight: GPUBuffer; bias: GPUBuffer; nExpertUsed: number } | undefined;
  private readonly routed: DeviceExperts;
  private readonly shared: { experts: DeviceExperts; gate: GPUBuffer | undefined } | undefined;
  private readonly uniforms: { router: GPUBuffer; gather: GPUBuffer; combine: GPUBuffer; sharedGate: GPUBuffer };
  private readonly pipelines: Promise<Pipelines>;
  private act: Activations | undefined;
  private destroyed = false;

  constructor(private readonly ctx: GpuContext, private readonly w: GpuMoEBlockWeights,
    private readonly matvecMaxTokens: number, private readonly onDestroy: () => void) {
    const { nExpert, dModel } = w.experts;
    this.nExpert = nExpert;
    this.dModel = dModel;
    // f16 weights need the device feature; without it the block stays f32 and says so here. int8 needs
    // nothing: its words are unpacked with integer shifts.
    this.weightDtype = w.weightDtype === 'int8' ? 'int8'
      : w.weightDtype === 'f16' && ctx.device.features.has('shader-f16') ? 'f16' : 'f32';
    // ... though it still refuses weights f16 could not hold (DeviceExperts checks them as it uploads).
    const f16Range = w.weightDtype === 'f16' && this.weightDtype === 'f32';
    const writer = w.weightWriter ?? typescriptWeightWriter;
    const set = (this.weights = ctx.buffers());
    try {
      this.none = set.storage(16, 'unused binding');
      this.router = this.uploadRouter(set);
      this.routed = new DeviceExperts(ctx, set, w.experts, this.weightDtype, 'experts', this.none, writer, f16Range);
      if (w.shared) {
        const s = w.shared.experts;
        if (s.nExpert !== 1 || s.dModel !== dModel) {
          throw new SwitchyardError('shape', 'shared', `expected nExpert 1 and dModel ${dModel}, got nExpert ${s.nExpert}, dModel ${s.dModel}`);
        }
        if (w.shared.gate && w.shared.gate.length !== dModel) {
          throw new SwitchyardError('shape', 'shared.gate', `expected [${dModel}] = ${dModel} values, got ${w.shared.gate.length}`);
        }
        this.shared = {
          experts: new DeviceExperts(ctx, set, s, this.weightDtype, 'shared', this.none, writer, f16Range),
          gate: w.shared.gate ? set.upload(w.shared.gate) : undefined,
        };
      }
      this.uniforms = {
        router: set.uniform(routerTopk.params.byteSize),
        gather: set.uniform(gatherByExpert.params.byteSize),
        combine: set.uniform(combine.params.byteSize),
        sharedGate: set.uniform(sharedGate.params.byteSize),
      };
    } catch (e) {
      set.destroy();
      throw e;
    }
    this.pipelines = this.compile();
    // Forward awaits these; an unobserved rejection before then must not crash the process.
    this.pipelines.catch(() => undefined);
  }

  get oneTimeWork(): number {
    return this.ctx.reallocations;
  }

  async ready(): Promise<void> {
    await this.pipelines;
  }

  forward(hidden: Float32Array, nToken: number, options?: GpuForwardOptions): Promise<GpuMoEBlockOutput> {
    if (this.destroyed) return Promise.reject(new SwitchyardError('backend', 'block', 'forward after destroy()'));
    if (!Number.isInteger(nToken) || nToken < 0 || hidden.length < nToken * this.dModel) {
      return Promise.reject(new SwitchyardError('shape', 'hidden',
        `expected [${nToken}, ${this.dModel}] = ${nToken * this.dModel} values, got ${hidden.length}`));
    }
    const given = options?.routing;
    try {
      if (given) this.checkRouting(given, nToken);
      else if (!this.router) {
        throw new SwitchyardError('config', 'options.routing', 'this block has no routerWeight, so every forward needs options.routing');
      }
    } catch (e) {
      return Promise.reject(e);
    }
    // A snapshot (T·k values): the forward may wait behind others, and what was checked is what runs.
    const routing = given && { indices: given.indices.slice(), weights: given.weights.slice(), nExpertUsed: given.nExpertUsed };
    if (nToken === 0) {
      const f = new Float32Array(0);
      return Promise.resolve({ output: f, logits: f, probs: f, indices: new Int32Array(0), weights: f });
    }
    return this.ctx.serial('forward', () => this.run(hidden, nToken, routing, options?.plan ?? false));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.act?.set.destroy();
    this.weights.destroy();
    this.onDestroy();
  }

  private uploadRouter(set: BufferSet): Block['router'] {
    const { routerWeight, routerBias } = this.w;
    const E = this.nExpert;
    const d = this.dModel;
    if (!routerWeight) return undefined;
    if (routerWeight.length !== E * d) {
      throw new SwitchyardError('shape', 'routerWeight', `expected [${E}, ${d}] = ${E * d} values, got ${routerWeight.length}`);
    }
    if (routerBias && routerBias.length !== E) {
      throw new SwitchyardError('shape', 'routerBias', `expected [${E}] = ${E} values, got ${routerBias.length}`);
    }
    const k = this.w.nExpertUsed;
    if (k === undefined || !Number.isInteger(k) || k < 1 || k > E) {
      throw new SwitchyardError('range', 'nExpertUsed', `expected an integer in [1, ${E}] for a block that routes itself, got ${k}`);
    }
    // A bias binding must exist even when the router has none; has_bias = 0 keeps it unread.
    return { weight: set.upload(routerWeight), bias: routerBias ? set.upload(routerBias) : set.storage(4), nExpertUsed: k };
  }

  private checkRouting(r: GpuRouting, nToken: number): void {
    const k = r.nExpertUsed;
    if (!Number.isInteger(k) || k < 1) {
      throw new SwitchyardError('range', 'options.routing.nExpertUsed', `expected a positive integer, got ${k}`);
    }
    const n = nToken * k;
    if (!(r.indices instanceof Int32Array) || r.indices.length !== n) {
      throw new SwitchyardError('shape', 'options.routing.indices', `expected an Int32Array [${nToken}, ${k}] = ${n} values, got ${r.indices?.length}`);
    }
    if (!(r.weights instanceof Float32Array) || r.weights.length !== n) {
      throw new SwitchyardError('shape', 'options.routing.weights', `expected a Float32Array [${nToken}, ${k}] = ${n} values, got ${r.weights?.length}`);
    }
    // The kernels trust indices (an out-of-range expert would leave its plan row unwritten).
    for (let i = 0; i < n; i++) {
      const e = r.indices[i];
      if (e < -1 || e >= this.nExpert) {
        throw new SwitchyardError('range', `options.routing.indices[${i}]`, `expected −1 (dropped) or an expert in [0, ${this.nExpert}), got ${e}`);
      }
    }
  }

  private async compile(): Promise<Pipelines> {
    const ctx = this.ctx;
    const shared = this.shared;
    const [router, gather, comb, gate, routed, sharedExperts] = await Promise.all([
      this.router ? ctx.pipeline(routerTopk, routerTopkConstants(this.nExpert)) : undefined,
      ctx.pipeline(gatherByExpert, GATHER_BY_EXPERT_CONSTANTS),
      ctx.pipeline(combine, combineConstants(!shared ? 'none' : shared.gate ? 'gated' : 'ungated')),
      shared?.gate ? ctx.pipeline(sharedGate, SHARED_GATE_CONSTANTS) : undefined,
      this.routed.pipelines,
      shared?.experts.pipelines,
    ]);
    return { router, gather, combine: comb, sharedGate: gate, routed, shared: sharedExperts };
  }

  private async run(hidden: Float32Array, nToken: number, routing: GpuRouting | undefined, withPlan: boolean): Promise<GpuMoEBlockOutput> {
    const p = await this.pipelines;
    const { nExpert, dModel: d } = this;
    const k = routing ? routing.nExpertUsed : this.router!.nExpertUsed;
    const nSlot = nToken * k;
    const act = this.activations(nToken, nSlot, p);
    const matvec = nToken <= this.matvecMaxTokens;
    const device = this.ctx.device;
    const q = device.queue;
    writeFloats(device, act.hidden, hidden, nToken * d);
    if (routing) {
      writeWords(device, act.indices, routing.indices, nSlot);
      writeFloats(device, act.weights, routing.weights, nSlot);
    } else {
      q.writeBuffer(this.uniforms.router, 0, routerTopk.params.pack({
        n_token: nToken, n_expert: nExpert, d_model: d, n_expert_used: k, compute_logits: 1,
        has_bias: this.w.routerBias ? 1 : 0, normalize: this.w.normalize ? 1 : 0, scale: this.w.scale ?? 1,
      }));
    }
    q.writeBuffer(this.uniforms.gather, 0, gatherByExpert.params.pack({ n_slot: nSlot, n_expert: nExpert, n_expert_used: k }));
    q.writeBuffer(this.uniforms.combine, 0, combine.params.pack({ n_token: nToken, d_model: d, n_expert_used: k }));
    if (matvec) this.routed.writeMatvecUniforms(nSlot, k);
    if (this.shared) {
      // The shared expert's plan: one expert holding every token (rows = slot rows = identity, fixed).
      writeWords(device, act.sharedOffsets!, Uint32Array.of(0, nToken), 2);
      q.writeBuffer(this.uniforms.sharedGate, 0, sharedGate.params.pack({ n_token: nToken, d_model: d }));
      if (matvec) this.shared.experts.writeMatvecUniforms(nToken, 1);
    }

    const ctx = this.ctx;
    const bg = act.bindGroups;
    const sources = [act.out, ...(routing ? [] : act.routerResults), ...(withPlan ? act.plan : [])];
    const sizes = [nToken * d, ...(routing ? [] : [nToken * nExpert, nToken * nExpert, nSlot, nSlot]),
      ...(withPlan ? [nExpert + 1, nSlot, nSlot, nSlot] : [])].map((n) => n * 4);
    const results = await ctx.submitAndRead((pass) => {
      if (!routing) ctx.dispatch(pass, p.router!, bg.router!, routerTopkWorkgroups(nToken));
      ctx.dispatch(pass, p.gather, bg.gather, gatherByExpertWorkgroups(nExpert));
      this.routed.encode(pass, p.routed, bg.routed, nSlot, matvec);
      if (this.shared) {
        if (bg.sharedGate) ctx.dispatch(pass, p.sharedGate!, bg.sharedGate, sharedGateWorkgroups(nToken));
        this.shared.experts.encode(pass, p.shared!, bg.shared!, nToken, matvec);
      }
      ctx.dispatch(pass, p.combine, bg.combine, combineWorkgroups(nToken, d));
    }, sources, sizes);

    const output = new Float32Array(results.shift()!);
    const empty = new Float32Array(0);
    const result: GpuMoEBlockOutput = routing
      ? { output, logits: empty, probs: empty, indices: routing.indices, weights: routing.weights }
      : {
        output,
        logits: new Float32Array(results.shift()!),
        probs: new Float32Array(results.shift()!),
        indices: new Int32Array(results.shift()!),
        weights: new Float32Array(results.shift()!),
      };
    if (withPlan) {
      const offsets = new Int32Array(results.shift()!);
      // Dropped slots have no plan row: R = offsets[E] ≤ nToken · k, and rows past R are stale.
      const nRow = offsets[nExpert];
      result.plan = {
        offsets,
        rows: new Int32Array(results.shift()!, 0, nRow).slice(),
        weights: new Float32Array(results.shift()!, 0, nRow).slice(),
        slots: new Int32Array(results.shift()!, 0, nRow).slice(),
      } satisfies DispatchPlan;
    }
    return result;
  }

  /** The activation buffers and their bind groups, reallocated only when a forward outgrows them. */
  private activations(nToken: number, nSlot: number, p: Pipelines): Activations {
    if (this.act && this.act.tokens >= nToken && this.act.slots >= nSlot) return this.act;
    const T = Math.max(nToken, this.act?.tokens ?? 0);
    const S = Math.max(nSlot, this.act?.slots ?? 0);
    // Checked before anything is freed or made: the largest buffer grows with the call, so the caller's
    // remedy is a smaller call, named as such (not an internal buffer past a device limit).
    const largest = 4 * Math.max(S * Math.max(this.routed.dFF, this.dModel), T * Math.max(this.dModel, this.nExpert, this.shared?.experts.dFF ?? 0));
    const limit = this.ctx.device.limits.maxStorageBufferBindingSize;
    if (largest > limit) {
      throw new SwitchyardError('limits', 'options.tokens', `expected at most about ${Math.max(1, Math.floor((nToken * limit) / largest))} tokens ` +
        `per call on this adapter: ${nToken} need a ${largest}-byte activation buffer, past its maxStorageBufferBindingSize ${limit}; split the call`);
    }
    this.act?.set.destroy();
    this.act = undefined;
    const ctx = this.ctx;
    ctx.reallocations++;
    const { nExpert, dModel: d } = this;
    const set = ctx.buffers();
    const a = {
      hidden: set.storage(T * d * 4, 'hidden [T, dModel]'),
      logits: set.storage(T * nExpert * 4, 'logits [T, E]'),
      probs: set.storage(T * nExpert * 4, 'probs [T, E]'),
      indices: set.storage(S * 4, 'indices [T, k]'),
      weights: set.storage(S * 4, 'weights [T, k]'),
      offsets: set.storage((nExpert + 1) * 4, 'offsets [E + 1]'),
      rows: set.storage(S * 4, 'rows [R]'),
      rowWeights: set.storage(S * 4, 'row weights [R]'),
      rowSlots: set.storage(S * 4, 'row slots [R]'),
      slotRow: set.storage(S * 4, 'slot rows [T · k]'),
      h: set.storage(S * this.routed.dFF * 4, 'h [R, dFF]'),
      y: set.storage(S * d * 4, 'y [R, dModel]'),
      out: set.storage(T * d * 4, 'output [T, dModel]'),
    };
    const u = this.uniforms;
    let shared: { bindGroups: ExpertBindGroups; y: GPUBuffer; weight: GPUBuffer; offsets: GPUBuffer; gate: GPUBindGroup | undefined } | undefined;
    if (this.shared) {
      const identity = set.storage(T * 4, 'shared rows [T]');
      writeWords(ctx.device, identity, Uint32Array.from({ length: T }, (_, t) => t), T);
      const y = set.storage(T * d * 4, 'shared y [T, dModel]');
      const weight = set.storage(T * 4, 'shared weight [T]');
      const offsets = set.storage(2 * 4, 'shared offsets [2]');
      shared = {
        y, weight, offsets,
        bindGroups: this.shared.experts.bindGroups(p.shared!, {
          x: a.hidden, rows: identity, offsets, slotRow: identity,
          // A new buffer is zero-filled: every token's one assignment is expert 0.
          indices: set.storage(T * 4, 'shared indices [T]'),
          h: set.storage(T * this.shared.experts.dFF * 4, 'shared h [T, dFF]'), y,
        }),
        gate: this.shared.gate && ctx.bindGroup(sharedGate, p.sharedGate!, { params: u.sharedGate, hidden: a.hidden,
          gate: this.shared.gate, weight }),
      };
    }
    this.act = {
      tokens: T,
      slots: S,
      set,
      hidden: a.hidden,
      indices: a.indices,
      weights: a.weights,
      sharedOffsets: shared?.offsets,
      bindGroups: {
        router: this.router && ctx.bindGroup(routerTopk, p.router!, { params: u.router, hidden: a.hidden, weight: this.router.weight,
          bias: this.router.bias, logits: a.logits, probs: a.probs, indices: a.indices, weights: a.weights }),
        gather: ctx.bindGroup(gatherByExpert, p.gather, { params: u.gather, indices: a.indices, weights: a.weights,
          offsets: a.offsets, rows: a.rows, rowWeights: a.rowWeights, rowSlots: a.rowSlots, slotRow: a.slotRow }),
        combine: ctx.bindGroup(combine, p.combine, { params: u.combine, indices: a.indices, weights: a.weights,
          slotRow: a.slotRow, y: a.y, yShared: shared?.y ?? this.none, sharedWeight: shared?.weight ?? this.none, out: a.out }),
        sharedGate: shared?.gate,
        routed: this.routed.bindGroups(p.routed, { x: a.hidden, rows: a.rows, offsets: a.offsets, indices: a.indices,
          slotRow: a.slotRow, h: a.h, y: a.y }),
        shared: shared?.bindGroups,
      },
      out: a.out,
      routerResults: [a.logits, a.probs, a.indices, a.weights],
      plan: [a.offsets, a.rows, a.rowWeights, a.rowSlots],
    };
    return this.act;
  }
}
