// createMoE(): validates a block's config and weights, lists the paths it may run on and hands them to a
// planner: one path when the backend is forced, or under 'auto' with a single path here; otherwise the GPU
// and the best CPU path, chosen per shape class from measured costs (ts/api/planner.ts).
import type { MoE, MoEConfig, ResolvedBackend, RuntimeOptions, TensorLike } from '../spec/types.js';
import { resolveMoE, type ResolvedMoE, type WeightSource } from '../spec/moe-config.js';
import { configSnapshot } from '../spec/config-snapshot.js';
import type { CpuBackend, ExpertWeights, PreparedExperts } from '../backends/backend.js';
import type { WebGpuBackend } from '../backends/webgpu.js';
import { SwitchyardError } from '../errors.js';
import { MoEBlock } from './moe-block.js';
import { BlockPaths, type Binder, type BoundPath } from './block-paths.js';
import { backendOption, cpuPath, gpuPath, requireGpuPath } from './paths.js';
import { Planner, instanceId, plannerDefaults } from './planner.js';
import { gpuCanRoute } from './route.js';
import { oneOf } from '../spec/check.js';

type WeightDtype = NonNullable<RuntimeOptions['weightDtype']>;

/**
 * How long createMoE waits, at most, for a threaded path's workers to start (Node here: ~20-40 ms; a browser
 * compiles the module in each). Past it the block runs on the threads that are up and the rest join when
 * they are.
 */
const THREADS_START_WAIT_MS = 5000;

async function bindCpu(
  resolved: ResolvedMoE, options: RuntimeOptions | undefined, forced: 'auto' | 'wasm' | 'reference', weightDtype: WeightDtype,
): Promise<BoundPath> {
  const backend = await cpuPath(options, forced);
  if (weightDtype !== 'f32' && backend.name !== 'wasm') {
    throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights need the wasm or webgpu path, and neither loads here; available on the reference path: 'f32'`);
  }
  // options.threads: the workers start before the weights are packed, and pack them with this thread; a block
  // then runs on all of its threads from its first forward (and 'auto' calibrates the CPU path as it will
  // run), not after its first ~10 calls.
  await backend.startThreads?.(THREADS_START_WAIT_MS);
  const prepare = (weights: ExpertWeights, name?: string) => backend.prepareExpertsAsync?.(weights, weightDtype, name) ?? backend.prepareExperts(weights, weightDtype, name);
  const experts = await prepare(resolved.experts);
  let shared: { experts: PreparedExperts; gate: Float32Array | undefined } | undefined;
  try {
    shared = resolved.shared && { experts: await prepare(resolved.shared.experts, 'shared'), gate: resolved.shared.gate };
  } catch (e) {
    // The routed experts packed already: freed (and, were they the backend's last, its workers stopped).
    experts.destroy();
    throw e;
  }
  return { kind: 'cpu', backend, experts, shared };
}

/** The router kernel runs plain softmax top-k on the device; every other router runs on the CPU and hands the experts its selection. */
function routesOnDevice(resolved: ResolvedMoE): boolean {
  return gpuCanRoute(resolved.router) && resolved.routerWeight !== undefined;
}

async function bindGpu(resolved: ResolvedMoE, gpu: WebGpuBackend, cpu: CpuBackend, weightDtype: WeightDtype): Promise<BoundPath> {
  const onDevice = routesOnDevice(resolved);
  const router = resolved.router;
  const block = gpu.prepareBlock({
    routerWeight: onDevice ? resolved.routerWeight : undefined,
    routerBias: onDevice ? resolved.routerBias : undefined,
    experts: resolved.experts,
    nExpertUsed: router.topK,
    normalize: onDevice && router.kind === 'topk' ? router.normalize : undefined,
    scale: onDevice && router.kind === 'topk' ? router.scale : undefined,
    shared: resolved.shared && { experts: resolved.shared.experts, gate: resolved.shared.gate },
    weightDtype,
    weightWriter: cpu.weightWriter,
  });
  try {
    await block.ready();
  } catch (e) {
    block.destroy();
    throw e;
  }
  // Plans, stats and losses are built on the CPU: from the one read-back at the end of a forward, or
  // (routing on the CPU) before the experts run.
  return { kind: 'gpu', block, cpu, routesOnDevice: onDevice };
}

/**
 * What makes two blocks cost the same on the same paths: their dims, activation, biases, shared expert,
 * weight dtype, where routing runs, and the path instances (device, wasm module). Blocks with one
 * signature share measured plans, so the layers of a model calibrate once.
 */
function signature(resolved: ResolvedMoE, weightDtype: WeightDtype, gpu: WebGpuBackend, cpu: CpuBackend): string {
  const { experts, router, shared } = resolved;
  return JSON.stringify([
    resolved.dModel, resolved.dFF, experts.nExpert, router.topK, router.kind, experts.activation ?? 'swiglu',
    experts.gateBias !== undefined || experts.upBias !== undefined || experts.downBias !== undefined,
    shared ? [shared.experts.dFF, shared.gate !== undefined] : 0, weightDtype, routesOnDevice(resolved),
    `webgpu#${instanceId(gpu)}`, `${cpu.name}#${instanceId(cpu)}`,
  ]);
}

/**
 * Builds a MoE block from a config and canonical weights (DESIGN.md §3 names; a record or a Map). `backend: 'auto'` with a
 * WebGPU adapter present measures, the first time each token count class (⌈log2 T⌉) is seen, the GPU and
 * the best CPU path (WASM, else the reference) on that call, within ~200 ms per block, and keeps the
 * cheaper for the class; without an adapter it runs WASM (else the reference). A forced backend never
 * measures. `routing.backend` of each forward and `moe.backend` (the last forward's path) report the choice.
 * `weightDtype: 'f16'` keeps expert weights as f16 (on a GPU with `shader-f16`, f32 on one without; always on
 * wasm); `'int8'` as block-wise int8 with f16 scales, on the GPU and on wasm. Both are converted
 * once, when a path is bound. The reference path, the oracle, keeps f32.
 * A block without a GPU path keeps no reference to the expert arrays it was given once its path holds
 * its own copy (a block with one keeps them: a lost device re-binds the experts on the CPU).
 *
 * @example
 * const moe = await createMoE(
 *   { dModel: 64, router: { kind: 'topk', numExperts: 8, topK: 2, normalize: true }, expert: { dFF: 96, activation: 'swiglu' } },
 *   { 'router.weight': w, 'experts.gate': g, 'experts.up': u, 'experts.down': d },
 * );
 * const { output, routing } = await moe.forward(hidden, { tokens: 16 });
 */
export async function createMoE(config: MoEConfig, weights: Record<string, TensorLike> | Map<string, TensorLike>, options?: RuntimeOptions): Promise<MoE> {
  // A Map of named tensors, as fromHuggingFace takes them, holds the same entries as the record.
  return buildMoE(config, weights instanceof Map ? Object.fromEntries(weights) : weights, options);
}

/** createMoE over weights that may include deferred checkpoint tensors (fromHuggingFace's MXFP4 / FP8 experts). */
export async function buildMoE(config: MoEConfig, weights: WeightSource, options?: RuntimeOptions): Promise<MoE> {
  const resolved = resolveMoE(config, weights);
  const forced = backendOption(options);
  const weightDtype = oneOf(options?.weightDtype, ['f32', 'f16', 'int8'] as const, 'options.weightDtype', 'f32');
  // f16 and int8 run on the GPU and on wasm; the reference, the oracle, keeps f32.
  if (weightDtype !== 'f32' && forced === 'reference') {
    throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights run on the webgpu and wasm paths, not on 'reference'; available there: 'f32'`);
  }
  const fallback = () => bindCpu(resolved, options, 'auto', weightDtype);
  const binders = new Map<ResolvedBackend, Binder>();
  let key = '';
  if (forced === 'webgpu') {
    const gpu = await requireGpuPath(options);
    const cpu = await cpuPath(options, 'auto');
    binders.set('webgpu', () => bindGpu(resolved, gpu, cpu, weightDtype));
  } else {
    const gpu = forced === 'auto' ? await gpuPath(options) : undefined;
    const cpu = await cpuPath(options, forced);
    // The GPU first: it is the design's fast path and what 'auto' did before measuring, so the first class
    // runs there and the CPU's run is the extra one. The reference is a candidate only when wasm does not
    // load: wasm computes the same f32 math with SIMD and beats it at every shape (5–25× on d64–d512
    // blocks at T = 1…257 on this project's 2-core machine), so measuring the oracle would only spend
    // the budget.
    if (gpu) {
      binders.set('webgpu', () => bindGpu(resolved, gpu, cpu, weightDtype));
      key = signature(resolved, weightDtype, gpu, cpu);
    }
    binders.set(cpu.name, () => bindCpu(resolved, options, forced, weightDtype));
  }
  const paths = new BlockPaths(binders);
  const oneTimeWork = (name: ResolvedBackend): number => paths.oneTimeWork(name);
  let planner = new Planner<ResolvedBackend>({ candidates: paths.names, key, prepare: (name) => paths.get(name), oneTimeWork });
  // The preferred path is bound now, so weights it cannot hold are reported by createMoE itself. Under
  // 'auto' a GPU that cannot hold the weights (limits) is passed over for the CPU.
  try {
    await paths.get(planner.preferred());
  } catch (e) {
    const cpu = paths.names.find((name) => name !== 'webgpu');
    if (!(planner.preferred() === 'webgpu' && cpu && e instanceof SwitchyardError && (e.code === 'limits' || e.code === 'device-lost'))) throw e;
    await paths.drop('webgpu');
    planner = new Planner<ResolvedBackend>({ candidates: [cpu], key: '' });
    await paths.get(cpu);
  }
  // The first block of its kind will calibrate, and binding a path (packing the weights for wasm: ~0.1-0.4 s
  // for 50 MB here) inside a measured call would spend the calibration budget on load work: bind the other
  // candidates now. A candidate that cannot hold the weights is left out, as a failed measurement would be.
  if (planner.candidates.length > 1 && plannerDefaults.table.claim(key)) {
    const held: ResolvedBackend[] = [];
    for (const name of planner.candidates) {
      try {
        await paths.get(name);
        held.push(name);
      } catch (e) {
        if (!(e instanceof SwitchyardError)) throw e;
        await paths.drop(name);
      }
    }
    if (held.length < planner.candidates.length) planner = new Planner<ResolvedBackend>({ candidates: held, key: held.length > 1 ? key : '', oneTimeWork });
  }
  // Without a GPU among the paths nothing binds the experts again (a lost device is the only late bind);
  // with one, a checkpoint's deferred projections take a copy of the caller's bytes, who may reuse them now.
  if (!paths.names.includes('webgpu')) releaseExpertArrays(resolved);
  else for (const t of resolved.deferred) t.own();
  const selectionBias = resolved.router.kind === 'topk' ? resolved.router.selectionBias : undefined;
  return new MoEBlock(configSnapshot(config, selectionBias), resolved, paths, planner, fallback);
}

/**
 * Lets go of the canonical expert weights once every path that will run holds its own copy (wasm packs
 * them; the reference keeps what it needs itself), so that a block holds only its packed weights: f32
 * arrays the block made (a converted checkpoint) and the quantised bytes a deferred projection reads
 * (fromHuggingFace's MXFP4 / FP8) are freed with it. Arrays a caller passed stay the caller's; only this
 * block's references go.
 */
function releaseExpertArrays(resolved: ResolvedMoE): void {
  const none = new Float32Array(0);
  // Every field named: a deferred projection's getter (not enumerable) must not run, and its reader goes too.
  const strip = (w: ExpertWeights): ExpertWeights => ({
    nExpert: w.nExpert, dModel: w.dModel, dFF: w.dFF, activation: w.activation, alpha: w.alpha, limit: w.limit, gate: none, up: none, down: none,
  });
  resolved.experts = strip(resolved.experts);
  if (resolved.shared) resolved.shared = { ...resolved.shared, experts: strip(resolved.shared.experts) };
  resolved.deferred = [];
}
