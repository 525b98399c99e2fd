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
import { weightArgument, type ExpertWeights } from './backend.js';
import type { WasmHeap } from './wasm-heap.js';
import type { RowReader } from '../formats/deferred-tensor.js';
import { packChunksThreaded, type PackChunk, type PackThreads, type RowSource, type ThreadJob } from './wasm-pack-threads.js';
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
  /**
   * Rows [nRow, len] per expert (with their checkpoint bytes where the module decodes them); `hi` gives the
   * high four columns of a gated panel (absent: the next four rows of lo).
   */
  lo: RowSource;
  hi: RowSource | undefined;
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
export function packExperts(
  heap: WasmHeap, w: ExpertWeights, s: PackedShape, dtype: WasmWeightDtype, x: PackExports, name = 'experts', threads?: PackThreadsOf,
): PackedPointers {
  const steps = packing(heap, w, s, dtype, x, name, threads);
  let step = steps.next();
  while (!step.done) {
    try {
      threads!.pool.run(step.value.participants, step.value.drain);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next();
  }
  return step.value;
}

/** packExperts for a thread that may not block: its thread jobs awaited (pool.runAsync). */
export async function packExpertsAsync(
  heap: WasmHeap, w: ExpertWeights, s: PackedShape, dtype: WasmWeightDtype, x: PackExports, name: string, threads: PackThreadsOf,
): Promise<PackedPointers> {
  const steps = packing(heap, w, s, dtype, x, name, threads);
  let step = steps.next();
  while (!step.done) {
    try {
      await threads.pool.runAsync(step.value.participants, step.value.drain);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next();
  }
  return step.value;
}

/** What a packing may run on besides the calling thread (wasm.ts gives it; the staging sizes are the packing's). */
export type PackThreadsOf = Omit<PackThreads, 'stagingBytes' | 'panelBytes'>;

/** The packing, yielding each job its threads run (the drivers above run them blocking or awaited). */
function* packing(
  heap: WasmHeap, w: ExpertWeights, s: PackedShape, dtype: WasmWeightDtype, x: PackExports, name: string, threads: PackThreadsOf | undefined,
): Generator<ThreadJob, PackedPointers> {
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
    const source = (name: 'gate' | 'up' | 'down', cols: number): RowSource => {
      const e = w.rowsEncoded?.[name];
      return { read: rowsOf(w, name, cols), encoded: decodes(x, e) ? e : undefined };
    };
    const gateUp: Projection = {
      lo: source(s.gated ? 'gate' : 'up', w.dModel), hi: s.gated ? source('up', w.dModel) : undefined, nRow: w.dFF, len: w.dModel,
      nPanel: s.nPanel, K: s.dModelK, ptr: ptrs.gateUp, scales: ptrs.gateUpScales,
    };
    const down: Projection = {
      lo: source('down', w.dFF), hi: undefined, nRow: w.dModel, len: w.dFF, nPanel: s.dModelPad / PANEL, K: s.dFFPad, ptr: ptrs.down, scales: ptrs.downScales,
    };
    const chunks: PackChunk[] = [];
    for (let e = 0; e < nExpert; e++) chunks.push(...chunksOf(gateUp, e, dtype), ...chunksOf(down, e, dtype));
    const chunk = Math.max(chunkPanels(gateUp.K), chunkPanels(down.K));
    const rows = chunk * PANEL * Math.max(gateUp.len, down.len);
    // Staging for a chunk's rows (gated: gate rows, then up rows), and for f16 / int8 its f32 panels.
    const stagingBytes = rows * 4;
    const panelBytes = dtype === 'f32' ? 0 : chunk * PANEL * Math.max(gateUp.K, down.K) * 4;
    let amax = -1;
    if (threads && chunks.length > 1) {
      try {
        amax = yield* packChunksThreaded(heap, { ...threads, stagingBytes, panelBytes }, chunks, dtype);
      } catch {
        // A worker failed (the pool now runs on one thread and says why when a forward uses it): the
        // chunks are packed again here, all of them.
        amax = -1;
      }
    }
    if (amax < 0) {
      const staging = heap.alloc(stagingBytes);
      scratch.push(staging);
      // Their scales when they come with some (MXFP4, FP8).
      const scaleBytes = Math.max(0, ...[gateUp, down].flatMap((p) => [p.lo, p.hi].map((r) => runScaleBytes(r?.encoded, chunk * PANEL, p.len))));
      const scales = scaleBytes > 0 ? heap.alloc(scaleBytes) : 0;
      if (scales) scratch.push(scales);
      const panels = panelBytes > 0 ? heap.alloc(panelBytes) : 0;
      if (panels) scratch.push(panels);
      amax = 0;
      for (const c of chunks) amax = Math.max(amax, packChunk(heap, x, c, dtype, { staging, scales, panels }));
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

/** The scratch blocks of a packing on one thread: the rows' staging, their scales (MXFP4, FP8; or 0), f32 panels for f16 / int8 (or 0). */
interface Scratch {
  staging: number;
  scales: number;
  panels: number;
}

/** Expert e's chunks of one projection: a few panels each (chunkPanels), with the rows they read and where they go. */
function chunksOf(p: Projection, e: number, dtype: WasmWeightDtype): PackChunk[] {
  const { nRow, len, K, hi } = p;
  const rowStep = hi ? GATED_COLS : PANEL;
  const chunk = chunkPanels(K);
  const stepsPerPanel = K * PANEL;
  const out: PackChunk[] = [];
  for (let p0 = 0; p0 < p.nPanel; p0 += chunk) {
    const n = Math.min(chunk, p.nPanel - p0);
    const r0 = p0 * rowStep;
    const r1 = Math.min(nRow, (p0 + n) * rowStep);
    const first = e * p.nPanel + p0;
    out.push({
      lo: p.lo, hi, from: e * nRow + r0, count: Math.max(0, r1 - r0), len, rowStep, nPanel: n, K,
      dst: p.ptr + first * stepsPerPanel * WEIGHT_BYTES[dtype],
      q8Scales: dtype === 'int8' ? p.scales + (first * stepsPerPanel / Q8_BLOCK) * 2 : 0,
    });
  }
  return out;
}

/** One chunk packed on this thread; returns the largest |w| packed. */
function packChunk(heap: WasmHeap, x: PackExports, c: PackChunk, dtype: WasmWeightDtype, scratch: Scratch): number {
  const { staging, panels } = scratch;
  const { count, len, K, nPanel } = c;
  readRows(heap, x, c.lo, c.from, count, len, staging, scratch.scales);
  // Gated: up's rows after gate's; plain: the high four columns are the next four rows of the same run.
  const hiAt = c.hi ? staging + count * len * 4 : staging + GATED_COLS * len * 4;
  if (c.hi) readRows(heap, x, c.hi, c.from, count, len, hiAt, scratch.scales);
  const nHi = c.hi ? count : count - GATED_COLS;
  const amax = x.packPanels(staging, count, hiAt, nHi, c.rowStep, nPanel, len, K, dtype === 'f32' ? c.dst : panels);
  if (dtype === 'f16') x.convertF16(panels, nPanel, K, c.dst);
  else if (dtype === 'int8') x.convertInt8(panels, nPanel, K, c.dst, c.q8Scales);
  return amax;
}

/** Rows [from, from + count) of `len` values as f32 at `at`: decoded by the module where it can (wasm-decode.ts), else by their reader. */
function readRows(heap: WasmHeap, x: PackExports, source: RowSource, from: number, count: number, len: number, at: number, scales: number): void {
  if (source.encoded) decodeRows(heap, x, source.encoded, from, count, len, at, scales);
  else source.read(from, from + count, heap.f32, at >>> 2);
}

/** A packed |w| past the format's range: the weights' own check names the first one, under its own name. */
function checkRange(w: ExpertWeights, gated: boolean, dtype: 'f16' | 'int8', amax: number, name: string): void {
  const limit = dtype === 'f16' ? F16_MAX : Q8_MAX_WEIGHT;
  if (amax <= limit) return;
  const check = dtype === 'f16' ? checkF16Range : checkQ8Range;
  if (gated) check(w.gate, weightArgument(name, 'gate'));
  check(w.up, weightArgument(name, 'up'));
  check(w.down, weightArgument(name, 'down'));
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
