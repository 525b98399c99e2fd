// Host side of the WASM expert kernels: the packed layout's shape and blocks (assembly/ffn/layout.ts; packed
// once, at prepare time, by wasm-pack.ts), held until destroy().
import type { Activation } from '../spec/types.js';
import { isGated, type ExpertWeights, type PreparedExperts } from './backend.js';
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

/** WEIGHT_* of assembly/ffn/weights.ts. */
const WEIGHT_CODE: Record<WasmWeightDtype, number> = { f32: 0, f16: 1, int8: 2 };

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
