// createMoE(): validates a block's config and weights and binds them to an execution path.
import type { MoE, MoEConfig, RuntimeOptions, TensorLike } from '../spec/types.js';
import { resolveMoE, type ResolvedMoE } from '../spec/moe-config.js';
import { SwitchyardError } from '../errors.js';
import { MoEBlock, type BoundPath } from './moe-block.js';
import { backendOption, cpuPath, gpuPath, requireGpuPath } from './paths.js';
import { gpuCanRoute } from './route.js';
import { oneOf } from '../spec/check.js';

type WeightDtype = NonNullable<RuntimeOptions['weightDtype']>;

async function bindCpu(
  resolved: ResolvedMoE, options: RuntimeOptions | undefined, forced: 'auto' | 'wasm' | 'reference', weightDtype: WeightDtype,
): Promise<BoundPath> {
  const backend = await cpuPath(options, forced);
  if (weightDtype !== 'f32' && backend.name !== 'wasm') {
    throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights need the wasm or webgpu path, and neither loads here; available on the reference path: 'f32'`);
  }
  return {
    kind: 'cpu',
    backend,
    experts: backend.prepareExperts(resolved.experts, weightDtype),
    shared: resolved.shared && { experts: backend.prepareExperts(resolved.shared.experts, weightDtype), gate: resolved.shared.gate },
  };
}

/**
 * Builds a MoE block from a config and canonical weights (DESIGN.md §3 names). `backend: 'auto'` takes
 * WebGPU when an adapter is present, else WASM, else the reference; `moe.backend` says which.
 * `weightDtype: 'f16'` keeps expert weights as f16 (on a GPU with `shader-f16`, f32 on one without; always on
 * wasm); `'int8'` as block-wise int8 with f16 scales, on wasm ('auto' then skips the GPU). Both are converted
 * here, once. The reference path, the oracle, keeps f32.
 *
 * @example
 * const moe = await createMoE(
 *   { dModel: 64, router: { kind: 'topk', numExperts: 8, topK: 2, normalize: true }, expert: { dFF: 96, activation: 'swiglu' } },
 *   { 'router.weight': w, 'experts.gate': g, 'experts.up': u, 'experts.down': d },
 * );
 * const { output, routing } = await moe.forward(hidden, { tokens: 16 });
 */
export async function createMoE(config: MoEConfig, weights: Record<string, TensorLike>, options?: RuntimeOptions): Promise<MoE> {
  const resolved = resolveMoE(config, weights);
  const forced = backendOption(options);
  const weightDtype = oneOf(options?.weightDtype, ['f32', 'f16', 'int8'] as const, 'options.weightDtype', 'f32');
  // f16 runs on the GPU and on wasm, int8 on wasm only; the reference, the oracle, keeps f32.
  if (weightDtype !== 'f32' && (forced === 'reference' || (weightDtype === 'int8' && forced === 'webgpu'))) {
    throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights run on ${weightDtype === 'int8' ? "the wasm path" : "the webgpu and wasm paths"}, not on '${forced}'; available there: 'f32'`);
  }
  const fallback = () => bindCpu(resolved, options, 'auto', weightDtype);
  const gpu = forced === 'webgpu' ? await requireGpuPath(options) : forced === 'auto' && weightDtype !== 'int8' ? await gpuPath(options) : undefined;
  if (!gpu) {
    return new MoEBlock(config, resolved, await bindCpu(resolved, options, forced === 'webgpu' ? 'auto' : forced, weightDtype), fallback);
  }
  const router = resolved.router;
  // The router kernel runs plain softmax top-k on the device; every other router runs on the CPU and
  // hands the experts its indices and weights.
  const routesOnDevice = gpuCanRoute(router) && resolved.routerWeight !== undefined;
  const block = gpu.prepareBlock({
    routerWeight: routesOnDevice ? resolved.routerWeight : undefined,
    routerBias: routesOnDevice ? resolved.routerBias : undefined,
    experts: resolved.experts,
    nExpertUsed: router.topK,
    normalize: routesOnDevice ? router.normalize : undefined,
    scale: routesOnDevice ? router.scale : undefined,
    shared: resolved.shared && { experts: resolved.shared.experts, gate: resolved.shared.gate },
    weightDtype: weightDtype === 'f16' ? 'f16' : 'f32',
  });
  // Plans, stats and losses are built on the CPU: from the one read-back at the end of a forward, or
  // (routing on the CPU) before the experts run.
  const path: BoundPath = { kind: 'gpu', block, cpu: await cpuPath(options, 'auto'), routesOnDevice };
  return new MoEBlock(config, resolved, path, fallback);
}
