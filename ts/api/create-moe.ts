// createMoE(): validates a block's config and weights and binds them to an execution path.
import type { MoE, MoEConfig, RuntimeOptions, TensorLike } from '../spec/types.js';
import { resolveMoE, type ResolvedMoE } from '../spec/moe-config.js';
import { SwitchyardError } from '../errors.js';
import { MoEBlock, type BoundPath } from './moe-block.js';
import { backendOption, cpuPath, gpuPath, requireGpuPath } from './paths.js';
import { gpuCanRoute } from './route.js';
import { expertFeatures, gpuRunsExperts, wasmRunsExperts } from './capabilities.js';

async function bindCpu(resolved: ResolvedMoE, options: RuntimeOptions | undefined, forced: 'auto' | 'wasm' | 'reference'): Promise<BoundPath> {
  if (forced === 'wasm' && !wasmRunsExperts(resolved)) {
    throw new SwitchyardError('backend', 'options.backend', `the wasm path does not run ${expertFeatures(resolved)} in this version; use 'reference' or 'auto'`);
  }
  const backend = await cpuPath(options, wasmRunsExperts(resolved) ? forced : 'reference');
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
  if (options?.weightDtype !== undefined && options.weightDtype !== 'f32') {
    throw new SwitchyardError('config', 'options.weightDtype', `'${options.weightDtype}' weights are not available in this version; available: 'f32'`);
  }
  const fallback = () => bindCpu(resolved, options, 'auto');
  if (forced === 'webgpu' && !gpuRunsExperts(resolved)) {
    throw new SwitchyardError('backend', 'options.backend', `the WebGPU block does not run ${expertFeatures(resolved)} in this version; use 'reference' or 'auto'`);
  }
  const gpu = forced === 'webgpu' ? await requireGpuPath(options) : forced === 'auto' && gpuRunsExperts(resolved) ? await gpuPath(options) : undefined;
  let path: BoundPath;
  const router = resolved.router;
  if (gpu && gpuCanRoute(router) && resolved.routerWeight) {
    const block = gpu.prepareBlock({
      routerWeight: resolved.routerWeight,
      routerBias: resolved.routerBias,
      experts: resolved.experts,
      nExpertUsed: router.topK,
      normalize: router.normalize,
      scale: router.scale,
    });
    // Plans, stats and losses are rebuilt on the CPU from the one read-back at the end of a forward.
    path = { kind: 'gpu', block, planner: await cpuPath(options, 'auto') };
  } else if (forced === 'webgpu') {
    throw new SwitchyardError('backend', 'config.router', `the WebGPU block runs softmax top-k routers without bias, groups or capacity; router '${router.kind}' needs backend 'wasm' or 'reference' in this version`);
  } else {
    path = await bindCpu(resolved, options, forced);
  }
  return new MoEBlock(config, resolved, path, fallback);
}
