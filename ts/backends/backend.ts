// The small interface every execution path implements. The facade (ts/api/) validates input,
// picks a path and calls these; a path never validates user input itself.
import type { Activation, DispatchPlan, ResolvedBackend, Routing } from '../spec/types.js';
import type { ResolvedRouterSpec } from '../spec/router-spec.js';
import type { RouterData } from '../spec/router-input.js';
import type { DeviceWeightWriter } from './device-weights.js';
import type { EncodedRows, RowReader } from '../formats/deferred-tensor.js';

/** A routing as a path computes it; the facade adds which path it was. */
export type RoutingCore = Omit<Routing, 'backend'>;

/**
 * Expert weights in the canonical layout, already converted to f32. One expert computes
 *   g = gate·x + gateBias, u = up·x + upBias, y = down·h + downBias, with h by activation:
 *   swiglu silu(g)⊙u · geglu gelu(g)⊙u · swiglu-oai (clamp(u, ±limit) + 1)⊙g'σ(αg'), g' = min(g, limit)
 *   gelu gelu(u) · relu relu(u) · silu silu(u)   (gelu is the exact erf form)
 */
export interface ExpertWeights {
  nExpert: number;
  dModel: number;
  dFF: number;
  /** Absent means 'swiglu' (the walking skeleton's only activation). */
  activation?: Activation;
  /** swiglu-oai's α (GPT-OSS: 1.702) and clamp limit (7). */
  alpha?: number;
  limit?: number;
  /** [nExpert, dFF, dModel] for the gated activations (swiglu, geglu, swiglu-oai); empty otherwise */
  gate: Float32Array;
  /** [nExpert, dFF, dModel] */
  up: Float32Array;
  /** [nExpert, dModel, dFF] */
  down: Float32Array;
  /** [nExpert, dFF] */
  gateBias?: Float32Array;
  /** [nExpert, dFF] */
  upBias?: Float32Array;
  /** [nExpert, dModel] */
  downBias?: Float32Array;
  /**
   * Readers of the projections a checkpoint keeps quantised (formats/deferred-tensor.ts), by name: rows of
   * [nExpert · dFF, dModel] (gate, up) or [nExpert · dModel, dFF] (down). Where one is present, that projection's
   * array is made when first asked for; a path that packs from runs of rows (wasm) reads them here instead.
   */
  rows?: Partial<Record<'gate' | 'up' | 'down', RowReader>>;
  /** Of those, the ones whose bytes a WASM module may decode itself (bf16, f16, MXFP4, FP8), by rows. */
  rowsEncoded?: Partial<Record<'gate' | 'up' | 'down', EncodedRows>>;
}

/** Whether an activation reads a gate projection beside the up projection. */
export function isGated(activation: Activation | undefined): boolean {
  return activation === undefined || activation === 'swiglu' || activation === 'geglu' || activation === 'swiglu-oai';
}

/** Top-k selection over softmax scores: the routing core of the walking skeleton. */
export interface TopKSoftmaxArgs {
  /** [nToken, nExpert] */
  logits: Float32Array;
  nToken: number;
  nExpert: number;
  /** k, 1 ≤ k ≤ nExpert */
  nExpertUsed: number;
  normalize: boolean;
  scale: number;
}

export interface TopKSoftmaxResult {
  /** [nToken, nExpert] softmax over all experts */
  probs: Float32Array;
  /** [nToken, nExpertUsed] descending by score, ties to the lower expert index */
  indices: Int32Array;
  /** [nToken, nExpertUsed] */
  weights: Float32Array;
}

/** Router logits: hidden · weightᵀ + bias. */
export interface RouterLogitsArgs {
  /** [nToken, dModel] */
  hidden: Float32Array;
  /** [nExpert, dModel] */
  weight: Float32Array;
  /** [nExpert] or undefined */
  bias: Float32Array | undefined;
  nToken: number;
  dModel: number;
  nExpert: number;
}

/** Experts loaded onto a path; opaque to the facade. */
export interface PreparedExperts {
  readonly nExpert: number;
  readonly dModel: number;
  readonly dFF: number;
  destroy(): void;
}

/** A CPU-side execution path (reference, wasm). */
export interface CpuBackend {
  readonly name: ResolvedBackend;
  routerLogits(args: RouterLogitsArgs): Float32Array;
  /** Any router kind, validated: selection, plan (with padding rows), stats and losses. */
  route(spec: ResolvedRouterSpec, data: RouterData): RoutingCore;
  topKSoftmax(args: TopKSoftmaxArgs): TopKSoftmaxResult;
  /**
   * Counting sort of the assignments by expert: rows of expert e in ascending token order.
   * Assignments with index −1 are skipped. slots[r] = t·nExpertUsed + j.
   */
  buildPlan(indices: Int32Array, weights: Float32Array, nToken: number, nExpertUsed: number, nExpert: number): DispatchPlan;
  /**
   * Loads experts (pre-packing them into the path's preferred layout). weightDtype: how the path stores
   * them ('f32' when absent); the facade asks for 'f16' or 'int8' only on a path that has them (wasm).
   * name: how errors name these weights ('experts' when absent; 'shared' for a shared expert).
   */
  prepareExperts(weights: ExpertWeights, weightDtype?: 'f32' | 'f16' | 'int8', name?: string): PreparedExperts;
  /** prepareExperts for a caller that may await: a threaded path then packs on its workers where the calling thread may not block. */
  prepareExpertsAsync?(weights: ExpertWeights, weightDtype?: 'f32' | 'f16' | 'int8', name?: string): Promise<PreparedExperts>;
  /**
   * out[t] = Σ over plan rows r of token t: plan.weights[r] · down_e(silu(gate_e x_t) ⊙ up_e x_t).
   * @param hidden [nToken, dModel]
   * @returns [nToken, dModel]; rows of tokens with no plan row are 0.
   */
  runExperts(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Float32Array;
  /**
   * runExperts, awaited: the same output bit for bit. A path offers it when it can run faster without
   * blocking the calling thread (wasm on several threads where that thread may not block: it awaits its
   * workers instead); the facade prefers it when present.
   */
  runExpertsAsync?(experts: PreparedExperts, hidden: Float32Array, nToken: number, plan: DispatchPlan): Promise<Float32Array>;
  /**
   * One-time costs this path has paid so far (scratch memory grown for a larger call); a run during which
   * the count changed was not a warm run. Absent where a path has none.
   */
  readonly oneTimeWork?: number;
  /**
   * Converts expert weights to the WebGPU path's f16 and int8 layouts faster than TypeScript, with the same
   * bits (wasm: its module does it); a GPU block bound beside this path uses it. Absent on other paths.
   */
  readonly weightWriter?: DeviceWeightWriter;
  /** The WASM build a wasm path runs (relaxed-SIMD FMA or plain SIMD128); absent on other paths. */
  readonly variant?: 'simd128' | 'relaxed-simd';
  /** Diagnostics of a threaded path: threads running now, runExperts calls split over several, packing jobs run on several. */
  readonly activeThreads?: number;
  readonly threadedCalls?: number;
  readonly threadedPackJobs?: number;
  /**
   * A threaded path: starts its workers (before any experts are prepared, so that they pack the weights too:
   * wasm-pack-threads.ts) and resolves once they run, or failed, or maxMs after the first wait for this
   * start-up — a worker that never answers costs that once, not every call.
   */
  startThreads?(maxMs: number): Promise<void>;
}

/**
 * How an error names one of a block's expert projections (name: 'experts' or 'shared'): as createMoE names
 * the canonical weight it came from, weights['experts.down'].
 */
export function weightArgument(name: string, projection: 'gate' | 'up' | 'down'): string {
  return `weights['${name}.${projection}']`;
}
