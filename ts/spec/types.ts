// Public types of switchyard: the contract of DESIGN.md §3.
// Shapes are written outermost first and stored row-major: [nToken, nExpert] means t * nExpert + e.

/** Which execution path runs a call. 'auto' lets the runtime choose and report its choice. */
export type BackendName = 'auto' | 'reference' | 'wasm' | 'webgpu';
/** The path that actually ran. */
export type ResolvedBackend = Exclude<BackendName, 'auto'>;

export type ScoreFunction = 'softmax' | 'sigmoid' | 'sqrt-softplus';

export interface CapacitySpec {
  factor?: number;
  /** C itself, an integer ≥ 0 (0: every routed slot is dropped) */
  perExpert?: number;
  dropPolicy?: 'probs' | 'position';
  /**
   * Pad every expert's plan with weight-0 rows of the lowest-index unrouted tokens to exactly min(C, T) rows;
   * with `per: 'sequence'` C applies within each sequence, so to min(C, S) rows of each, B·min(C, S) in all.
   */
  padToCapacity?: boolean;
  per?: 'batch' | 'sequence';
}

export interface GroupSpec {
  count: number;
  topk: number;
  scoreTopN?: number;
  on?: 'scores' | 'logits';
}

interface RouterSpecBase {
  /** E, the number of routed experts. */
  numExperts: number;
  /** k, the number of experts each token is sent to. */
  topK: number;
}

export interface TopKRouterSpec extends RouterSpecBase {
  kind: 'topk';
  score?: ScoreFunction;
  normalize?: boolean;
  scale?: number;
  /** [nExpert]: added to the scores for selection only, never to the weights. */
  selectionBias?: Float32Array;
  groups?: GroupSpec;
  capacity?: CapacitySpec;
}

export interface HashRouterSpec extends RouterSpecBase {
  kind: 'hash';
  /** [nVocab * topK] */
  table?: Int32Array;
  seed?: number;
  weights?: 'uniform' | 'scores';
  score?: ScoreFunction;
  normalize?: boolean;
  scale?: number;
}

export interface SinkhornRouterSpec extends RouterSpecBase {
  kind: 'sinkhorn';
  tolerance?: number;
  maxIterations?: number;
}

export interface ExpertChoiceRouterSpec extends RouterSpecBase {
  kind: 'expert-choice';
  capacityFactor: number;
  /** Floor of C = round(c·T/E), rounded half to even as flaxformer does (default 4); an integer ≥ 0, where 0 sets no floor (C may then be 0). */
  minCapacity?: number;
}

export interface SelfRouterSpec extends RouterSpecBase {
  kind: 'self';
  offset?: number;
  temperature?: number;
  score?: ScoreFunction;
  normalize?: boolean;
}

export interface RandomRouterSpec extends RouterSpecBase {
  kind: 'random';
  seed?: number;
}

export type RouterSpec =
  | TopKRouterSpec
  | HashRouterSpec
  | SinkhornRouterSpec
  | ExpertChoiceRouterSpec
  | SelfRouterSpec
  | RandomRouterSpec;

export interface RouterInput {
  /** T, the number of tokens in this call. */
  tokens: number;
  /** [nToken, nExpert] router logits, when already computed. */
  logits?: Float32Array;
  /** [nToken, dModel] hidden states. */
  hidden?: Float32Array;
  /** [nExpert, dModel] router weight (logits = hidden · weightᵀ + bias). */
  weight?: Float32Array;
  /** [nExpert] router bias. */
  bias?: Float32Array;
  /** [nToken] token ids, for hash routers. */
  tokenIds?: Int32Array;
  /** S: tokens are batch-major, row = b·S + s. */
  sequenceLength?: number;
}

/** For each expert, the (token, weight) rows it must process; rows of expert e are offsets[e]..offsets[e+1]. */
export interface DispatchPlan {
  /** [nExpert + 1] */
  offsets: Int32Array;
  /** [nRow] token index of each row */
  rows: Int32Array;
  /** [nRow] mixing weight of each row */
  weights: Float32Array;
  /** [nRow] t·k + j, the assignment's position in indices/weights; −1 for a padding row */
  slots: Int32Array;
}

export interface RoutingStats {
  /** [nExpert] assignments per expert after capacity. */
  load: Int32Array;
  dropped: number;
  droppedFraction: number;
  tokenEntropy: number;
  loadEntropy: number;
  maxOverMean: number;
  cv: number;
  deadExperts: number;
}

export interface RoutingLosses {
  aux: number;
  seqAux?: number;
  z: number;
}

export interface Routing {
  /** [nToken, topK] experts per token in descending selection score; −1 = dropped / unused. */
  indices: Int32Array;
  /** [nToken, topK] mixing weights, 0 where indices is −1. */
  weights: Float32Array;
  /**
   * [nToken, nExpert] scores after the score function; for hash and random routing without logits, each
   * token's weights spread over the experts (1/k at its own), which tokenEntropy and the aux loss read.
   */
  probs: Float32Array;
  /** [nToken, nExpert] raw router logits; empty where the router had none (hash, random). */
  logits: Float32Array;
  plan: DispatchPlan;
  stats: RoutingStats;
  losses: RoutingLosses;
  /** The path that computed this routing. */
  backend: ResolvedBackend;
}

export type Activation = 'swiglu' | 'geglu' | 'gelu' | 'relu' | 'silu' | 'swiglu-oai';

export interface ExpertSpec {
  dFF: number;
  activation: Activation;
  bias?: boolean;
  alpha?: number;
  limit?: number;
}

export interface SharedExpertSpec {
  dFF: number;
  /** σ-gated by weights['shared.router'] (Qwen2-MoE); left out, gated exactly when that weight is given. */
  gated?: boolean;
}

export interface MoEConfig {
  dModel: number;
  router: RouterSpec;
  expert: ExpertSpec;
  shared?: SharedExpertSpec;
}

export type Dtype = 'f32' | 'f16' | 'bf16' | 'i32';

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: ArrayBufferView;
}

export type TensorLike = Float32Array | Tensor;

/**
 * The element types switchyard reads from a safetensors file as bytes, besides those it computes with
 * (Dtype): those of the quantised forms it dequantises at load — u8 for MXFP4 blocks and scales (GPT-OSS),
 * f8_e4m3 for block-wise FP8 weights (DeepSeek-V3, Qwen3 -FP8). Other dtypes (f64, i64, bool, …) are refused.
 */
export type RawDtype = 'u8' | 'f8_e4m3';

/** A tensor of a RawDtype: its bytes as the file stores them (little-endian). */
export interface RawTensor {
  dtype: RawDtype;
  shape: number[];
  data: Uint8Array;
}

/** What a checkpoint may hold under a name: a tensor to compute with, or one kept as bytes (fromHuggingFace). */
export type CheckpointTensor = TensorLike | RawTensor;

/**
 * WebGPU's GPUDevice where the program's typings declare one (@webgpu/types, or a lib.dom that has WebGPU),
 * else any object: these declarations must compile for a user who has no WebGPU typings installed.
 */
export type GPUDeviceLike = typeof globalThis extends { GPUDevice: { prototype: infer D } } ? D : object;

/**
 * WebAssembly.Module where the program's typings declare it (lib.dom, lib.webworker, @types/deno…), else
 * any object: a Node program compiled with lib ["es2022"] and @types/node has no WebAssembly namespace.
 * `& object` because lib.dom's Module is an empty interface, which a string or a number satisfies too.
 */
export type WasmModuleLike = object & (typeof globalThis extends { WebAssembly: { Module: { prototype: infer M } } } ? M : object);

export interface RuntimeOptions {
  backend?: BackendName;
  device?: GPUDeviceLike;
  wasmModule?: WasmModuleLike;
  weightDtype?: 'f32' | 'f16' | 'int8';
  /**
   * Threads for the wasm experts, the calling one included (default 1; an integer from 1 to 64). Above 1,
   * worker threads share one WebAssembly memory and run (expert, row block) items, or (expert, column
   * block) items for an expert with few rows: the output is the same bit for bit. Needs SharedArrayBuffer and workers: Node, Deno, a cross-origin-isolated page (whose main
   * thread awaits its workers instead of blocking) and its Workers; elsewhere (workerd, a page that is not
   * isolated) it runs on 1 thread and warns once.
   */
  threads?: number;
}

export interface ForwardOptions {
  tokens: number;
  tokenIds?: Int32Array;
  sequenceLength?: number;
}

export interface ForwardResult {
  /** [nToken, dModel] */
  output: Float32Array;
  routing: Routing;
  /**
   * The path that ran this call's experts. routing.backend says where the routing was computed: a WebGPU
   * block routes on the CPU what its GPU router does not implement (anything but plain softmax top-k).
   */
  backend: ResolvedBackend;
}

export interface MoE {
  /**
   * The config createMoE was given, as a frozen snapshot of its plain objects; its arrays are the block's
   * own. router.selectionBias (also a bias given as the weight router.selection_bias) is read as it stands
   * on every call: updating it in place (updateExpertBias) steers the next forward.
   */
  readonly config: MoEConfig;
  /** The path the last forward ran on (or will run on, before the first call). */
  readonly backend: ResolvedBackend;
  forward(hidden: Float32Array, options: ForwardOptions): Promise<ForwardResult>;
  destroy(): void;
}
