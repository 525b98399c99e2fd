// createMoE(): validates a block's config and weights and binds them to an execution path.
import type { MoE, MoEConfig, RuntimeOptions, TensorLike } from '../spec/types.js';
import { resolveMoE, type ResolvedMoE } from '../spec/moe-config.js';
import { SwitchyardError } from '../errors.js';
import { MoEBlock, type BoundPath } from './moe-block.js';
import { backendOption, cpuPath, gpuPath, requireGpuPath } from './paths.js';
import { gpuCanRoute } from './route.js';
import { oneOf } from '../spec/check.js';

async function bindCpu(resolved: ResolvedMoE, options: RuntimeOptions | undefined, forced: 'auto' | 'wasm' | 'reference'): Promise<BoundPath> {
  const backend = await cpuPath(options, forced);
  return {
    kind: 'cpu',
    backend,
    experts: backend.prepareExperts(resolved.experts),
    shared: resolved.shared && { experts: backend.prepareExperts(resolved.shared.experts), gate: resolved.shared.gate },
  };
}

/**
 * Builds a MoE block from a config and canonical weights (DESIGN.md §3 names). `backend: 'auto'` takes
 * WebGPU when an adapter is present, else WASM, else the reference; `moe.backend` says which.
 * `weightDtype: 'f16'` keeps expert weights as f16 on a GPU with `shader-f16` (f32 otherwise).
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
  if (weightDtype === 'int8' || (weightDtype === 'f16' && forced !== 'webgpu' && forced !== 'auto')) {
    throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights run on the webgpu path${weightDtype === 'int8' ? ' in no path yet' : ' only'} in this version; available elsewhere: 'f32'`);
  }
  const fallback = () => bindCpu(resolved, options, 'auto');
  const gpu = forced === 'webgpu' ? await requireGpuPath(options) : forced === 'auto' ? await gpuPath(options) : undefined;
  if (!gpu) {
    if (weightDtype !== 'f32') {
      throw new SwitchyardError('config', 'options.weightDtype', `'${weightDtype}' expert weights need the webgpu path, and this runtime offers no WebGPU adapter`);
    }
    return new MoEBlock(config, resolved, await bindCpu(resolved, options, forced === 'webgpu' ? 'auto' : forced), fallback);
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
