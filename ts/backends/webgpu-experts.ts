// A set of experts on the device: weights uploaded once (f32, or f16 / int8 converted on upload), split into
// groups of whole experts when a stacked tensor exceeds the storage binding limit, with the pipelines
// and uniforms of their up and down steps (grouped GEMMs, or mat-vecs for decode). A block holds one set
// for its routed experts and one for its shared expert; both run the same kernels.
import { SwitchyardError } from '../errors.js';
import { q8RowBytes } from './webgpu-q8.js';
import { checkF16Range } from '../formats/dtype.js';
import type { DeviceWeightWriter } from './device-weights.js';
import { isGated, weightArgument, type ExpertWeights } from './backend.js';
import type { BufferSet, GpuContext } from './webgpu-context.js';
import { activationCode, IDENTITY_ACTIVATION, type WeightDtype } from '../kernels/activation.js';
import { expertFfnUp } from '../kernels/expert-ffn-up.js';
import { expertFfnDown } from '../kernels/expert-ffn-down.js';
import { gemmConstants, groupedGemmWorkgroups, layoutFor, tileCols } from '../kernels/grouped-gemm.js';
import { EXPERT_MATVEC_CONSTANTS, expertMatvec, expertMatvecTiles, expertMatvecWorkgroups } from '../kernels/expert-matvec.js';
import { ceilDiv } from '../kernels/wgsl.js';

/** GPT-OSS's swiglu-oai constants, the defaults of ExpertWeights.alpha / .limit. */
const DEFAULT_ALPHA = 1.702;
const DEFAULT_LIMIT = 7;

/** Experts base .. base + count − 1 in one buffer per tensor; absent biases are the shared dummy. */
interface ExpertGroup {
  base: number;
  count: number;
  gate: GPUBuffer;
  up: GPUBuffer;
  down: GPUBuffer;
  gateBias: GPUBuffer;
  upBias: GPUBuffer;
  downBias: GPUBuffer;
}

/** Where a forward's buffers are for one expert set: its plan, its input and its outputs. */
export interface ExpertIo {
  /** [nToken, dModel] */
  x: GPUBuffer;
  /** [R] token of each plan row */
  rows: GPUBuffer;
  /** [nExpert + 1] */
  offsets: GPUBuffer;
  /** [nSlot] expert of each assignment (mat-vec path) */
  indices: GPUBuffer;
  /** [nSlot] plan row of each assignment (mat-vec path) */
  slotRow: GPUBuffer;
  /** [R, dFF] */
  h: GPUBuffer;
  /** [R, dModel] */
  y: GPUBuffer;
}

export interface ExpertBindGroups {
  up: GPUBindGroup[];
  down: GPUBindGroup[];
  matvecUp: GPUBindGroup[];
  matvecDown: GPUBindGroup[];
}

type Pipelines = [up: GPUComputePipeline, down: GPUComputePipeline, matvecUp: GPUComputePipeline, matvecDown: GPUComputePipeline];

export class DeviceExperts {
  readonly nExpert: number;
  readonly dModel: number;
  readonly dFF: number;
  readonly pipelines: Promise<Pipelines>;
  private readonly groups: ExpertGroup[] = [];
  private readonly alpha: number;
  private readonly limit: number;
  private readonly uniforms: { up: GPUBuffer[]; down: GPUBuffer[]; matvecUp: GPUBuffer[]; matvecDown: GPUBuffer[] };
  private readonly up: ReturnType<typeof expertFfnUp>;
  private readonly down: ReturnType<typeof expertFfnDown>;
  private readonly matvecUp: ReturnType<typeof expertMatvec>;
  private readonly matvecDown: ReturnType<typeof expertMatvec>;

  /**
   * @param name the argument name in errors ('experts', 'shared': the canonical weight names' prefix)
   * @param none a 16-byte buffer bound where a bias is absent (the kernels never read it then)
   * @param writer converts the weights to f16 or int8 and checks their range (device-weights.ts)
   * @param f16Range whether f32 weights must still be within f16's range (f16 asked for on a device without
   *   shader-f16: the block keeps f32, and refuses what f16 would)
   */
  constructor(private readonly ctx: GpuContext, set: BufferSet, w: ExpertWeights, dtype: WeightDtype,
    name: string, none: GPUBuffer, writer: DeviceWeightWriter, f16Range = false) {
    const { nExpert, dModel, dFF } = w;
    this.nExpert = nExpert;
    this.dModel = dModel;
    this.dFF = dFF;
    const code = activationCode(w.activation, `${name}.activation`);
    const gated = isGated(w.activation);
    checkExpertShapes(w, name, gated);
    this.alpha = w.alpha ?? DEFAULT_ALPHA;
    this.limit = w.limit ?? DEFAULT_LIMIT;

    // [nRow, len] matrices in the storage type: int8 rows padded to whole blocks (webgpu-q8.ts).
    const matrixBytes = (nRow: number, len: number) =>
      dtype === 'int8' ? q8RowBytes(nRow, len) : nRow * len * (dtype === 'f16' ? 2 : 4);
    const perExpertBytes = Math.max(matrixBytes(dFF, dModel), matrixBytes(dModel, dFF));
    const perGroup = Math.floor(ctx.maxWeightBindingBytes / perExpertBytes);
    if (perGroup < 1) {
      const larger = matrixBytes(dFF, dModel) >= matrixBytes(dModel, dFF) ? 'up' : 'down';
      throw new SwitchyardError('limits', weightArgument(name, larger), `one expert's [dFF, dModel] = ${perExpertBytes} bytes exceeds the ` +
        `storage binding limit of ${ctx.maxWeightBindingBytes} bytes`);
    }
    // A group's experts of one projection, [count · rows, cols]: a view of its array, or, for a projection a
    // checkpoint keeps quantised (ExpertWeights.rows), its rows read into an array for this upload only (decoded
    // by the writer's module where it has a decoder: device-weights.ts), so the f32 array of the whole
    // projection is never made.
    const weights = (what: 'gate' | 'up' | 'down', base: number, count: number, rows: number, cols: number) => {
      const reader = w.rows?.[what];
      const a = reader ? new Float32Array(count * rows * cols) : w[what].subarray(base * rows * cols, (base + count) * rows * cols);
      const encoded = w.rowsEncoded?.[what];
      if (reader && !(encoded && writer.decode?.(encoded, base * rows, (base + count) * rows, cols, a))) reader(base * rows, (base + count) * rows, a, 0);
      const argument = weightArgument(name, what);
      if (dtype === 'f32' && f16Range) checkF16Range(a, argument, base * rows * cols);
      return set.upload(dtype === 'f16' ? writer.f16(a, argument) : dtype === 'int8' ? writer.q8Rows(a, count * rows, cols, argument) : a);
    };
    for (let base = 0; base < nExpert; base += perGroup) {
      const count = Math.min(perGroup, nExpert - base);
      const range = (a: Float32Array, per: number) => a.subarray(base * per, (base + count) * per);
      // gate, up, down: the order their range errors are reported in.
      const gate = gated ? weights('gate', base, count, dFF, dModel) : undefined;
      const up = weights('up', base, count, dFF, dModel);
      this.groups.push({
        base, count, up,
        // Ungated activations never read the gate; the up buffer fills the binding.
        gate: gate ?? up,
        down: weights('down', base, count, dModel, dFF),
        gateBias: w.gateBias && gated ? set.upload(range(w.gateBias, dFF)) : none,
        upBias: w.upBias ? set.upload(range(w.upBias, dFF)) : none,
        downBias: w.downBias ? set.upload(range(w.downBias, dModel)) : none,
      });
    }

    const n = this.groups.length;
    const make = (bytes: number) => Array.from({ length: n }, () => set.uniform(bytes));
    // The GEMMs read rows four k at a time, as vec4 when the row length (dModel for up, dFF for down) allows.
    this.up = expertFfnUp(dtype, layoutFor(dModel), ctx.gemmTiles.ROWS);
    this.down = expertFfnDown(dtype, layoutFor(dFF), ctx.gemmTiles.ROWS);
    this.matvecUp = expertMatvec(dtype, layoutFor(dModel));
    this.matvecDown = expertMatvec(dtype, layoutFor(dFF));
    this.uniforms = {
      up: make(this.up.params.byteSize),
      down: make(this.down.params.byteSize),
      matvecUp: make(this.matvecUp.params.byteSize),
      matvecDown: make(this.matvecDown.params.byteSize),
    };
    // The GEMM uniforms do not depend on the token count: written once here.
    const q = ctx.device.queue;
    const tiles = ctx.gemmTiles;
    this.groups.forEach((g, i) => {
      const common = { d_model: dModel, d_ff: dFF, expert_base: g.base, n_expert_group: g.count };
      q.writeBuffer(this.uniforms.up[i], 0, this.up.params.pack({
        ...common, tiles_n: ceilDiv(dFF, tileCols(tiles)), alpha: this.alpha, limit: this.limit }));
      q.writeBuffer(this.uniforms.down[i], 0, this.down.params.pack({ ...common, tiles_n: ceilDiv(dModel, tileCols(tiles)) }));
    });

    const hasGateBias = gated && w.gateBias !== undefined;
    this.pipelines = Promise.all([
      ctx.pipeline(this.up, { ...gemmConstants(tiles), ACTIVATION: code, HAS_GATE_BIAS: +hasGateBias, HAS_UP_BIAS: +!!w.upBias }),
      ctx.pipeline(this.down, { ...gemmConstants(tiles), HAS_BIAS: +!!w.downBias }),
      ctx.pipeline(this.matvecUp, { ...EXPERT_MATVEC_CONSTANTS, ACTIVATION: code, HAS_BIAS_A: +hasGateBias,
        HAS_BIAS_B: +!!w.upBias }),
      ctx.pipeline(this.matvecDown, { ...EXPERT_MATVEC_CONSTANTS, ACTIVATION: IDENTITY_ACTIVATION,
        HAS_BIAS_A: 0, HAS_BIAS_B: +!!w.downBias }),
    ]);
    // The block awaits these; an unobserved rejection before then must not crash the process.
    this.pipelines.catch(() => undefined);
  }

  /** Bind groups of every step over one forward's buffers (rebuilt only when those are reallocated). */
  bindGroups(p: Pipelines, io: ExpertIo): ExpertBindGroups {
    const ctx = this.ctx;
    const u = this.uniforms;
    const [up, down, mvUp, mvDown] = [this.up, this.down, this.matvecUp, this.matvecDown];
    return {
      up: this.groups.map((g, i) => ctx.bindGroup(up, p[0], { params: u.up[i], x: io.x, rows: io.rows, offsets: io.offsets,
        gate: g.gate, up: g.up, gateBias: g.gateBias, upBias: g.upBias, h: io.h })),
      down: this.groups.map((g, i) => ctx.bindGroup(down, p[1], { params: u.down[i], h: io.h, offsets: io.offsets,
        down: g.down, downBias: g.downBias, y: io.y })),
      matvecUp: this.groups.map((g, i) => ctx.bindGroup(mvUp, p[2], { params: u.matvecUp[i], x: io.x, indices: io.indices,
        slotRow: io.slotRow, wA: g.gate, wB: g.up, biasA: g.gateBias, biasB: g.upBias, out: io.h })),
      // w_a is unread in the down step (identity is ungated); binding `down` twice keeps one layout.
      matvecDown: this.groups.map((g, i) => ctx.bindGroup(mvDown, p[3], { params: u.matvecDown[i], x: io.h, indices: io.indices,
        slotRow: io.slotRow, wA: g.down, wB: g.down, biasA: g.downBias, biasB: g.downBias, out: io.y })),
    };
  }

  /** The mat-vec uniforms of one forward: `nSlot` assignments, `nExpertUsed` per token. */
  writeMatvecUniforms(nSlot: number, nExpertUsed: number): void {
    const q = this.ctx.device.queue;
    const params = this.matvecUp.params;
    this.groups.forEach((g, i) => {
      const mv = { n_slot: nSlot, n_expert_used: nExpertUsed, expert_base: g.base, n_expert_group: g.count, alpha: this.alpha, limit: this.limit };
      q.writeBuffer(this.uniforms.matvecUp[i], 0, params.pack({
        ...mv, k_dim: this.dModel, n_dim: this.dFF, x_by_token: 1, tiles_n: expertMatvecTiles(this.dFF) }));
      q.writeBuffer(this.uniforms.matvecDown[i], 0, params.pack({
        ...mv, k_dim: this.dFF, n_dim: this.dModel, x_by_token: 0, tiles_n: expertMatvecTiles(this.dModel) }));
    });
  }

  /**
   * Encodes up then down for every group over at most `nRow` plan rows (the worst-case grid): mat-vecs
   * when `matvec` (uniforms from writeMatvecUniforms), grouped GEMMs otherwise.
   */
  encode(pass: GPUComputePassEncoder, p: Pipelines, bg: ExpertBindGroups, nRow: number, matvec: boolean): void {
    const ctx = this.ctx;
    const { dModel: d, dFF } = this;
    if (matvec) {
      bg.matvecUp.forEach((b) => ctx.dispatch(pass, p[2], b, expertMatvecWorkgroups(nRow, dFF)));
      bg.matvecDown.forEach((b) => ctx.dispatch(pass, p[3], b, expertMatvecWorkgroups(nRow, d)));
    } else {
      const tiles = ctx.gemmTiles;
      this.groups.forEach((g, i) => ctx.dispatch(pass, p[0], bg.up[i], groupedGemmWorkgroups(nRow, g.count, dFF, tiles)));
      this.groups.forEach((g, i) => ctx.dispatch(pass, p[1], bg.down[i], groupedGemmWorkgroups(nRow, g.count, d, tiles)));
    }
  }
}

function checkExpertShapes(w: ExpertWeights, name: string, gated: boolean): void {
  const { nExpert: E, dModel: d, dFF } = w;
  for (const [what, v] of [['nExpert', E], ['dModel', d], ['dFF', dFF]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new SwitchyardError('shape', `${name}.${what}`, `expected a positive integer, got ${v}`);
  }
  const expect = (what: string, a: Float32Array | undefined, n: number, shape: string) => {
    if (a && a.length !== n) throw new SwitchyardError('shape', `${name}.${what}`, `expected ${shape} = ${n} values, got ${a.length}`);
  };
  // A projection read by rows had its shape checked where it was made (its length would make its array).
  if (gated && !w.rows?.gate) expect('gate', w.gate, E * dFF * d, `[${E}, ${dFF}, ${d}]`);
  if (!w.rows?.up) expect('up', w.up, E * dFF * d, `[${E}, ${dFF}, ${d}]`);
  if (!w.rows?.down) expect('down', w.down, E * d * dFF, `[${E}, ${d}, ${dFF}]`);
  expect('gateBias', w.gateBias, E * dFF, `[${E}, ${dFF}]`);
  expect('upBias', w.upBias, E * dFF, `[${E}, ${dFF}]`);
  expect('downBias', w.downBias, E * d, `[${E}, ${d}]`);
}
