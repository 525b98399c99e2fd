// Host side of the WASM expert kernels: packs ExpertWeights once, at prepare time, into the panel
// layout of assembly/ffn/layout.ts, and holds the packed blocks until destroy().
import type { Activation } from '../spec/types.js';
import { isGated, type ExpertWeights, type PreparedExperts } from './backend.js';

/** Output columns of every panel; h columns of a gated panel. Must match assembly/ffn/layout.ts. */
export const PANEL = 8;
export const GATED_COLS = 4;

/** ACT_* of assembly/ffn/activation.ts. */
export const ACTIVATION_CODE: Record<Activation, number> = {
  swiglu: 0, geglu: 1, 'swiglu-oai': 2, gelu: 3, relu: 4, silu: 5,
};

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Padded sizes of one expert's packed layout. */
export interface PackedShape {
  gated: boolean;
  /** gate/up reduction length: roundUp(dModel, 4); the host pads hidden rows to it */
  dModelK: number;
  /** h columns: roundUp(dFF, 4) gated, roundUp(dFF, 8) ungated */
  dFFPad: number;
  /** y columns: roundUp(dModel, 8) */
  dModelPad: number;
  /** gate/up panels per expert */
  nPanel: number;
}

export function packedShape(activation: Activation | undefined, dModel: number, dFF: number): PackedShape {
  const gated = isGated(activation);
  const dFFPad = roundUp(dFF, gated ? GATED_COLS : PANEL);
  return {
    gated, dModelK: roundUp(dModel, 4), dFFPad, dModelPad: roundUp(dModel, PANEL),
    nPanel: dFFPad / (gated ? GATED_COLS : PANEL),
  };
}

/** Floats of each packed block, all experts. */
export function packedFloats(w: ExpertWeights, s: PackedShape): { gateUp: number; gateUpBias: number; down: number; downBias: number } {
  return {
    gateUp: w.nExpert * s.nPanel * s.dModelK * PANEL,
    gateUpBias: w.nExpert * s.nPanel * PANEL,
    down: w.nExpert * s.dModelPad * s.dFFPad,
    downBias: w.nExpert * s.dModelPad,
  };
}

/** Column of panel p (0..7) that h column n lands in, for gate (up = gate + 4 when gated). */
function columnOf(n: number, s: PackedShape): { panel: number; col: number } {
  const cols = s.gated ? GATED_COLS : PANEL;
  return { panel: Math.floor(n / cols), col: n % cols };
}

/**
 * Writes gate/up into [nExpert, nPanel, dModelK, 8] panels (dst zeroed here first); gated panels hold
 * gate rows 4p..4p+3 then up rows 4p..4p+3 per input index, ungated panels up rows 8p..8p+7.
 */
export function packGateUp(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
  const { nExpert, dModel, dFF, gate, up } = w;
  const expertFloats = s.nPanel * s.dModelK * PANEL;
  const panelFloats = s.dModelK * PANEL;
  dst.fill(0, base, base + nExpert * expertFloats);
  for (let e = 0; e < nExpert; e++) {
    for (let n = 0; n < dFF; n++) {
      const src = (e * dFF + n) * dModel;
      const { panel, col } = columnOf(n, s);
      const o0 = base + e * expertFloats + panel * panelFloats + col;
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
}

/** Writes gate/up biases as [nExpert, nPanel, 8] in the panels' column order (zeros where absent). */
export function packGateUpBias(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
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

/** Writes down into [nExpert, dModelPad/8, dFFPad, 8] panels: rows 8q..8q+7, per input index. */
export function packDown(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
  const { nExpert, dModel, dFF, down } = w;
  const expertFloats = s.dModelPad * s.dFFPad;
  dst.fill(0, base, base + nExpert * expertFloats);
  for (let e = 0; e < nExpert; e++) {
    for (let m = 0; m < dModel; m++) {
      const src = (e * dModel + m) * dFF;
      let o = base + e * expertFloats + Math.floor(m / PANEL) * s.dFFPad * PANEL + (m % PANEL);
      for (let i = 0; i < dFF; i++, o += PANEL) dst[o] = down[src + i];
    }
  }
}

/** Writes the down bias as [nExpert, dModelPad] (zero pad). */
export function packDownBias(dst: Float32Array, base: number, w: ExpertWeights, s: PackedShape): void {
  const { nExpert, dModel } = w;
  dst.fill(0, base, base + nExpert * s.dModelPad);
  if (!w.downBias) return;
  for (let e = 0; e < nExpert; e++) dst.set(w.downBias.subarray(e * dModel, (e + 1) * dModel), base + e * s.dModelPad);
}

/** Releases packed blocks; implemented by the backend that allocated them. */
export interface ExpertOwner {
  releaseExperts(experts: WasmExperts): void;
}

/** Experts packed into a backend's memory. Pointers are byte offsets; 0 = no bias. */
export class WasmExperts implements PreparedExperts {
  readonly nExpert: number;
  readonly dModel: number;
  readonly dFF: number;
  readonly activation: number;
  readonly alpha: number;
  readonly limit: number;
  readonly shape: PackedShape;
  private released = false;

  constructor(
    readonly owner: ExpertOwner,
    w: ExpertWeights,
    /** [nExpert, nPanel, dModelK, 8] */
    readonly gateUpPtr: number,
    /** [nExpert, nPanel, 8] or 0 */
    readonly gateUpBiasPtr: number,
    /** [nExpert, dModelPad / 8, dFFPad, 8] */
    readonly downPtr: number,
    /** [nExpert, dModelPad] or 0 */
    readonly downBiasPtr: number,
  ) {
    this.nExpert = w.nExpert;
    this.dModel = w.dModel;
    this.dFF = w.dFF;
    this.activation = ACTIVATION_CODE[w.activation ?? 'swiglu'];
    // GPT-OSS's constants when a swiglu-oai config leaves them out (as the reference does).
    this.alpha = w.alpha ?? 1.702;
    this.limit = w.limit ?? 7;
    this.shape = packedShape(w.activation, w.dModel, w.dFF);
  }

  get destroyed(): boolean {
    return this.released;
  }

  /** The pointers this block owns (biases only when present). */
  blocks(): number[] {
    return [this.gateUpPtr, this.gateUpBiasPtr, this.downPtr, this.downBiasPtr].filter((p) => p !== 0);
  }

  destroy(): void {
    if (this.released) return;
    this.released = true;
    this.owner.releaseExperts(this);
  }
}
