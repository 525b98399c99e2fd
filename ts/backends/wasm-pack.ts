// Expert weights packed into a WASM backend's memory at load time, in the panel layout of
// assembly/ffn/layout.ts: each projection's rows are copied into a staging block a few panels at a time
// (a checkpoint's bf16 / f16 / MXFP4 / FP8 rows as their bytes, which the module decodes: wasm-decode.ts),
// the module transposes them into panels (assembly/ffn/pack-panels.ts) — straight into the expert's slot
// for f32, or into a small scratch that it converts to f16 / int8 while it is still in cache
// (assembly/ffn/convert.ts). The module also returns the largest |w| it packed, so the range check of f16
// and int8 costs no pass of its own; only a failing one re-reads the weights to name the first culprit.
import { SwitchyardError } from '../errors.js';
import { checkF16Range, F16_MAX } from '../formats/dtype.js';
import { checkQ8Range, Q8_BLOCK, Q8_MAX_WEIGHT } from '../formats/q8.js';
import type { ExpertWeights } from './backend.js';
import type { WasmHeap } from './wasm-heap.js';
import type { EncodedRows, RowReader } from '../formats/deferred-tensor.js';
import { decodeRows, decodes, runScaleBytes, type DecodeExports } from './wasm-decode.js';
import { GATED_COLS, PANEL, type PackedPointers, type PackedShape, type WasmWeightDtype } from './wasm-experts.js';

/** The module's packing and converters (assembly/ffn/pack-panels.ts, convert.ts), and its checkpoint decoders. */
export interface PackExports extends DecodeExports {
  packPanels(lo: number, nLo: number, hi: number, nHi: number, rowStep: number, nPanel: number, len: number, K: number, dst: number): number;
  convertF16(src: number, nPanel: number, K: number, dst: number): void;
  convertInt8(src: number, nPanel: number, K: number, q: number, scales: number): void;
}

const WEIGHT_BYTES: Record<WasmWeightDtype, number> = { f32: 4, f16: 2, int8: 1 };

/** Bytes of f32 panels packed per call: with the rows they come from, a chunk stays in L2. */
const CHUNK_BYTES = 256 * 1024;

/** One projection of the packed layout: where its rows come from and how they become panels. */
interface Projection {
  /** Rows [nRow, len] per expert; `hi` gives the high four columns of a gated panel (absent: the next four rows of lo). */
  lo: RowReader;
  hi: RowReader | undefined;
  /** The same rows' checkpoint bytes, when the module decodes them (assembly/ffn/widen.ts) */
  loEncoded: EncodedRows | undefined;
  hiEncoded: EncodedRows | undefined;
  nRow: number;
  len: number;
  /** Panels per expert, and steps per panel (len padded) */
  nPanel: number;
  K: number;
  /** Byte offsets of the projection's packed block and int8 scales in memory */
  ptr: number;
  scales: number;
}

/**
 * Allocates and fills every block of a set of experts; on failure (memory, or a weight out of the f16 /
 * int8 range, reported under the weights' own names) nothing stays allocated.
 */
export function packExperts(heap: WasmHeap, w: ExpertWeights, s: PackedShape, dtype: WasmWeightDtype, x: PackExports, name = 'experts'): PackedPointers {
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
  const scratch: number[] = [];
  try {
    for (const k of Object.keys(sizes) as (keyof PackedPointers)[]) ptrs[k] = sizes[k] === 0 ? 0 : heap.alloc(sizes[k]);
    const encoded = (name: 'gate' | 'up' | 'down') => {
      const e = w.rowsEncoded?.[name];
      return decodes(x, e) ? e : undefined;
    };
    const gateUp: Projection = {
      lo: rowsOf(w, s.gated ? 'gate' : 'up', w.dModel), hi: s.gated ? rowsOf(w, 'up', w.dModel) : undefined, nRow: w.dFF, len: w.dModel,
      loEncoded: encoded(s.gated ? 'gate' : 'up'), hiEncoded: s.gated ? encoded('up') : undefined,
      nPanel: s.nPanel, K: s.dModelK, ptr: ptrs.gateUp, scales: ptrs.gateUpScales,
    };
    const down: Projection = {
      lo: rowsOf(w, 'down', w.dFF), hi: undefined, loEncoded: encoded('down'), hiEncoded: undefined, nRow: w.dModel, len: w.dFF, nPanel: s.dModelPad / PANEL, K: s.dFFPad, ptr: ptrs.down, scales: ptrs.downScales,
    };
    const chunk = Math.max(chunkPanels(gateUp.K), chunkPanels(down.K));
    const rows = chunk * PANEL * Math.max(gateUp.len, down.len);
    // Staging for the rows (gated: gate rows, then up rows), their scales when they come with some (MXFP4,
    // FP8), and for f16 / int8 the f32 panels.
    const staging = heap.alloc(rows * 4);
    scratch.push(staging);
    const scaleBytes = Math.max(0, ...[gateUp, down].flatMap((p) => [p.loEncoded, p.hiEncoded].map((e) => runScaleBytes(e, chunk * PANEL, p.len))));
    const scales = scaleBytes > 0 ? heap.alloc(scaleBytes) : 0;
    if (scales) scratch.push(scales);
    const panels = dtype === 'f32' ? 0 : heap.alloc(chunk * PANEL * Math.max(gateUp.K, down.K) * 4);
    if (panels) scratch.push(panels);
    let amax = 0;
    for (let e = 0; e < nExpert; e++) {
      amax = Math.max(amax, packProjection(heap, x, gateUp, e, dtype, { staging, scales, panels }));
      amax = Math.max(amax, packProjection(heap, x, down, e, dtype, { staging, scales, panels }));
    }
    if (dtype !== 'f32') checkRange(w, s.gated, dtype, amax, name);
    const f32 = heap.f32;
    if (ptrs.gateUpBias) packGateUpBias(f32, ptrs.gateUpBias >>> 2, w, s);
    if (ptrs.downBias) packDownBias(f32, ptrs.downBias >>> 2, w, s);
  } catch (e) {
    for (const p of Object.values(ptrs)) if (p !== 0) heap.release(p);
    throw e;
  } finally {
    for (const p of scratch) heap.release(p);
  }
  return ptrs;
}

/** A projection's rows: its reader when a checkpoint keeps it quantised, else copies from its array. */
function rowsOf(w: ExpertWeights, name: 'gate' | 'up' | 'down', cols: number): RowReader {
  const reader = w.rows?.[name];
  if (reader) return reader;
  const a = w[name];
  return (r0, r1, out, at) => out.set(a.subarray(r0 * cols, r1 * cols), at);
}

/** Panels per call for panels of K steps: whole groups of four (convert.ts interleaves by group). */
function chunkPanels(K: number): number {
  return 4 * Math.max(1, Math.floor(CHUNK_BYTES / (4 * K * PANEL * 4)));
}

/** The scratch blocks of a packing: the rows' staging, their scales (MXFP4, FP8; or 0), f32 panels for f16 / int8 (or 0). */
interface Scratch {
  staging: number;
  scales: number;
  panels: number;
}

/** Expert e's panels of one projection, a chunk at a time; returns the largest |w| packed. */
function packProjection(heap: WasmHeap, x: PackExports, p: Projection, e: number, dtype: WasmWeightDtype, scratch: Scratch): number {
  const { nRow, len, K, hi } = p;
  const { staging, panels } = scratch;
  const rowStep = hi ? GATED_COLS : PANEL;
  const chunk = chunkPanels(K);
  const stepsPerPanel = K * PANEL;
  let amax = 0;
  for (let p0 = 0; p0 < p.nPanel; p0 += chunk) {
    const n = Math.min(chunk, p.nPanel - p0);
    const r0 = p0 * rowStep;
    const r1 = Math.min(nRow, (p0 + n) * rowStep);
    const count = Math.max(0, r1 - r0);
    const from = e * nRow + r0;
    readRows(heap, x, p.lo, p.loEncoded, from, count, len, staging, scratch.scales);
    // Gated: up's rows after gate's; plain: the high four columns are the next four rows of the same run.
    const hiAt = hi ? staging + count * len * 4 : staging + GATED_COLS * len * 4;
    if (hi) readRows(heap, x, hi, p.hiEncoded, from, count, len, hiAt, scratch.scales);
    const nHi = hi ? count : count - GATED_COLS;
    const first = e * p.nPanel + p0;
    const dst = dtype === 'f32' ? p.ptr + first * stepsPerPanel * 4 : panels;
    amax = Math.max(amax, x.packPanels(staging, count, hiAt, nHi, rowStep, n, len, K, dst));
    if (dtype === 'f16') x.convertF16(panels, n, K, p.ptr + first * stepsPerPanel * 2);
    else if (dtype === 'int8') x.convertInt8(panels, n, K, p.ptr + first * stepsPerPanel, p.scales + (first * stepsPerPanel / Q8_BLOCK) * 2);
  }
  return amax;
}

/** Rows [from, from + count) of `len` values as f32 at `at`: decoded by the module where it can (wasm-decode.ts), else by their reader. */
function readRows(heap: WasmHeap, x: PackExports, read: RowReader, encoded: EncodedRows | undefined, from: number, count: number, len: number, at: number, scales: number): void {
  if (encoded) decodeRows(heap, x, encoded, from, count, len, at, scales);
  else read(from, from + count, heap.f32, at >>> 2);
}

/** A packed |w| past the format's range: the weights' own check names the first one, under its own name. */
function checkRange(w: ExpertWeights, gated: boolean, dtype: 'f16' | 'int8', amax: number, name: string): void {
  const limit = dtype === 'f16' ? F16_MAX : Q8_MAX_WEIGHT;
  if (amax <= limit) return;
  const check = dtype === 'f16' ? checkF16Range : checkQ8Range;
  if (gated) check(w.gate, `${name}.gate`);
  check(w.up, `${name}.up`);
  check(w.down, `${name}.down`);
  throw new SwitchyardError('range', name, `expected |weight| ≤ ${limit} for ${dtype} weights, received ${amax}`);
}

/** Column of panel p (0..7) that h column n lands in, for gate (up = gate + 4 when gated). */
function columnOf(n: number, s: PackedShape): { panel: number; col: number } {
  const cols = s.gated ? GATED_COLS : PANEL;
  return { panel: Math.floor(n / cols), col: n % cols };
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
