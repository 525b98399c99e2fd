// Host side of the WASM expert kernels: packs ExpertWeights once, at prepare time, into the panel
// layout of assembly/ffn/layout.ts (f32, or converted to f16 / block-wise int8 by the module itself,
// assembly/ffn/convert.ts), and holds the packed blocks until destroy().
import type { Activation } from '../spec/types.js';
import { isGated, type ExpertWeights, type PreparedExperts } from './backend.js';
import type { WasmHeap } from './wasm-heap.js';
import { Q8_BLOCK } from '../formats/q8.js';

/** Output columns of every panel; h columns of a gated panel. Must match assembly/ffn/layout.ts. */
export const PANEL = 8;
export const GATED_COLS = 4;

/** How expert weights are stored in WASM memory. */
export type WasmWeightDtype = 'f32' | 'f16' | 'int8';

/** ACT_* of assembly/ffn/activation.ts. */
export const ACTIVATION_CODE: Record<Activation, number> = {
  swiglu: 0, geglu: 1, 'swiglu-oai': 2, gelu: 3, relu: 4, silu: 5,
};

/** WEIGHT_* of assembly/ffn/weights.ts, and bytes per weight. */
const WEIGHT_CODE: Record<WasmWeightDtype, number> = { f32: 0, f16: 1, int8: 2 };
const WEIGHT_BYTES: Record<WasmWeightDtype, number> = { f32: 4, f16: 2, int8: 1 };

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Padded sizes of one expert's packed layout. */
export interface PackedShape {
  gated: boolean;
  /** gate/up reduction length: roundUp(dModel, 4), or 32 for int8 blocks; the host pads hidden rows to it */
  dModelK: number;
  /** h columns = down reduction length: roundUp(dFF, 4) gated, 8 ungated, 32 for int8 */
  dFFPad: number;
  /** y columns: roundUp(dModel, 8) */
  dModelPad: number;
  /** gate/up panels per expert */
  nPanel: number;
}

export function packedShape(activation: Activation | undefined, dModel: number, dFF: number, dtype: WasmWeightDtype = 'f32'): PackedShape {
  const gated = isGated(activation);
  const kAlign = dtype === 'int8' ? Q8_BLOCK : 4;
  const dFFPad = roundUp(dFF, Math.max(kAlign, gated ? GATED_COLS : PANEL));
  return {
    gated, dModelK: roundUp(dModel, kAlign), dFFPad, dModelPad: roundUp(dModel, PANEL),
    nPanel: dFFPad / (gated ? GATED_COLS : PANEL),
  };
}

/**
 * Bytes of the projections' own scratch (assembly/ffn/experts.ts kernelScratch) for experts of up to rows4
 * rows (a multiple of 4): int8, the rows rounded to i16 with their scales (q8.ts); f16, one panel widened
 * to f32 (weights.ts widenPanel); f32, none.
 */
export function kernelScratchBytes(dtype: WasmWeightDtype, rows4: number, s: PackedShape): number {
  const k = Math.max(s.dModelK, s.dFFPad);
  if (dtype === 'int8') return 4 * (rows4 + 1) * k;
  return dtype === 'f16' ? 4 * PANEL * k : 0;
}

/** Column of panel p (0..7) that h column n lands in, for gate (up = gate + 4 when gated). */
function columnOf(n: number, s: PackedShape): { panel: number; col: number } {
  const cols = s.gated ? GATED_COLS : PANEL;
  return { panel: Math.floor(n / cols), col: n % cols };
}

/**
 * Expert e's gate/up as [nPanel, dModelK, 8] f32 panels at dst[base ..] (zeroed first): gated panels
 * hold gate rows 4p..4p+3 then up rows 4p..4p+3 per input index, ungated panels up rows 8p..8p+7.
 */
function packGateUp(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape, e: number): void {
  const { dModel, dFF, gate, up } = w;
  const panelFloats = s.dModelK * PANEL;
  dst.fill(0, base, base + s.nPanel * panelFloats);
  for (let n = 0; n < dFF; n++) {
    const src = (e * dFF + n) * dModel;
    const { panel, col } = columnOf(n, s);
    const o0 = base + panel * panelFloats + col;
    if (s.gated) {
      // Gate in the low 4 columns, up in the high 4.
      for (let i = 0, o = o0; i < dModel; i++, o += PANEL) {
        dst[o] = gate[src + i];
        dst[o + GATED_COLS] = up[src + i];
      }
    } else {
      for (let i = 0, o = o0; i < dModel; i++, o += PANEL) dst[o] = up[src + i];
    }
  }
}

/** Expert e's down as [dModelPad / 8, dFFPad, 8] f32 panels at dst[base ..]: rows 8q..8q+7 per input index. */
function packDown(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape, e: number): void {
  const { dModel, dFF, down } = w;
  dst.fill(0, base, base + s.dModelPad * s.dFFPad);
  for (let m = 0; m < dModel; m++) {
    const src = (e * dModel + m) * dFF;
    let o = base + Math.floor(m / PANEL) * s.dFFPad * PANEL + (m % PANEL);
    for (let i = 0; i < dFF; i++, o += PANEL) dst[o] = down[src + i];
  }
}

/** Gate/up biases as [nExpert, nPanel, 8] in the panels' column order (zeros where absent). */
function packGateUpBias(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
  const { nExpert, dFF } = w;
  dst.fill(0, base, base + nExpert * s.nPanel * PANEL);
  for (let e = 0; e < nExpert; e++) {
    for (let n = 0; n < dFF; n++) {
      const { panel, col } = columnOf(n, s);
      const o = base + (e * s.nPanel + panel) * PANEL + col;
      const u = w.upBias ? w.upBias[e * dFF + n] : 0;
      if (s.gated) {
        dst[o] = w.gateBias ? w.gateBias[e * dFF + n] : 0;
        dst[o + GATED_COLS] = u;
      } else {
        dst[o] = u;
      }
    }
  }
}

/** The down bias as [nExpert, dModelPad] (zero pad). */
function packDownBias(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
  const { nExpert, dModel } = w;
  dst.fill(0, base, base + nExpert * s.dModelPad);
  for (let e = 0; e < nExpert; e++) dst.set(w.downBias!.subarray(e * dModel, (e + 1) * dModel), base + e * s.dModelPad);
}

/** Byte offsets of the packed blocks in WASM memory; 0 = absent. */
export interface PackedPointers {
  /** [nExpert, nPanel, dModelK, 8] of the storage type */
  gateUp: number;
  /** [nExpert, nPanel, dModelK / 32, 8] f32 (int8 only) */
  gateUpScales: number;
  /** [nExpert, nPanel, 8] f32 */
  gateUpBias: number;
  /** [nExpert, dModelPad / 8, dFFPad, 8] of the storage type */
  down: number;
  /** [nExpert, dModelPad / 8, dFFPad / 32, 8] f32 (int8 only) */
  downScales: number;
  /** [nExpert, dModelPad] f32 */
  downBias: number;
}

/** The module's converters (assembly/ffn/convert.ts): f32 panels in memory → f16, or int8 and scales. */
export interface ConvertExports {
  convertF16(src: number, nPanel: number, K: number, dst: number): void;
  convertInt8(src: number, nPanel: number, K: number, q: number, scales: number): void;
}

/**
 * Allocates and fills every block of a set of experts; on failure nothing stays allocated. f16 and int8
 * experts are packed as f32 panels one expert at a time into a scratch block, which the module converts
 * into the expert's slot (in TypeScript the int8 rounding took 17–29 ns a weight).
 */
export function packExperts(heap: WasmHeap, w: ExpertWeights, s: PackedShape, dtype: WasmWeightDtype, convert: ConvertExports): PackedPointers {
  const { nExpert } = w;
  const bytes = WEIGHT_BYTES[dtype];
  const guFloats = s.nPanel * s.dModelK * PANEL;
  const dnFloats = s.dModelPad * s.dFFPad;
  const hasGuBias = (s.gated && w.gateBias !== undefined) || w.upBias !== undefined;
  const sizes: Record<keyof PackedPointers, number> = {
    gateUp: nExpert * guFloats * bytes,
    gateUpScales: dtype === 'int8' ? nExpert * guFloats / Q8_BLOCK * 2 : 0,
    gateUpBias: hasGuBias ? nExpert * s.nPanel * PANEL * 4 : 0,
    down: nExpert * dnFloats * bytes,
    downScales: dtype === 'int8' ? nExpert * dnFloats / Q8_BLOCK * 2 : 0,
    downBias: w.downBias ? nExpert * s.dModelPad * 4 : 0,
  };
  const ptrs = { gateUp: 0, gateUpScales: 0, gateUpBias: 0, down: 0, downScales: 0, downBias: 0 };
  let scratch = 0;
  try {
    for (const k of Object.keys(sizes) as (keyof PackedPointers)[]) ptrs[k] = sizes[k] === 0 ? 0 : heap.alloc(sizes[k]);
    if (dtype !== 'f32') scratch = heap.alloc(Math.max(guFloats, dnFloats) * 4);
  } catch (e) {
    for (const p of Object.values(ptrs)) if (p !== 0) heap.release(p);
    throw e;
  }
  // Growth happens in alloc only, so the views taken from here on stay valid.
  const f32 = heap.f32;
  if (ptrs.gateUpBias) packGateUpBias(f32, ptrs.gateUpBias >>> 2, w, s);
  if (ptrs.downBias) packDownBias(f32, ptrs.downBias >>> 2, w, s);
  for (let e = 0; e < nExpert; e++) {
    if (dtype === 'f32') {
      packGateUp(f32, (ptrs.gateUp >>> 2) + e * guFloats, w, s, e);
      packDown(f32, (ptrs.down >>> 2) + e * dnFloats, w, s, e);
      continue;
    }
    packGateUp(f32, scratch >>> 2, w, s, e);
    store(convert, dtype, scratch, guFloats, ptrs.gateUp, ptrs.gateUpScales, e, s.nPanel, s.dModelK);
    packDown(f32, scratch >>> 2, w, s, e);
    store(convert, dtype, scratch, dnFloats, ptrs.down, ptrs.downScales, e, s.dModelPad / PANEL, s.dFFPad);
  }
  if (scratch !== 0) heap.release(scratch);
  return ptrs;
}

/** Expert e's n f32 weights as panels [nPanel][K][8] at src → f16 or int8 (+ scales) in its slot of the packed block. */
function store(
  convert: ConvertExports, dtype: WasmWeightDtype, src: number, n: number, ptr: number, scales: number, e: number, nPanel: number, K: number,
): void {
  if (dtype === 'f16') convert.convertF16(src, nPanel, K, ptr + e * n * 2);
  else convert.convertInt8(src, nPanel, K, ptr + e * n, scales + (e * n / Q8_BLOCK) * 2);
}

/** Releases packed blocks; implemented by the backend that allocated them. */
export interface ExpertOwner {
  releaseExperts(experts: WasmExperts): void;
}

/** Experts packed into a backend's memory. */
export class WasmExperts implements PreparedExperts {
  readonly nExpert: number;
  readonly dModel: number;
  readonly dFF: number;
  readonly activation: number;
  readonly alpha: number;
  readonly limit: number;
  /** WEIGHT_* code of the storage type */
  readonly weightType: number;
  private released = false;

  constructor(
    readonly owner: ExpertOwner,
    w: ExpertWeights,
    readonly weightDtype: WasmWeightDtype,
    readonly shape: PackedShape,
    readonly ptrs: PackedPointers,
  ) {
    this.nExpert = w.nExpert;
    this.dModel = w.dModel;
    this.dFF = w.dFF;
    this.activation = ACTIVATION_CODE[w.activation ?? 'swiglu'];
    // GPT-OSS's constants when a swiglu-oai config leaves them out (as the reference does).
    this.alpha = w.alpha ?? 1.702;
    this.limit = w.limit ?? 7;
    this.weightType = WEIGHT_CODE[weightDtype];
  }

  get destroyed(): boolean {
    return this.released;
  }

  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.owner.releaseExperts(this);
  }
}
