// route(): routing alone, on the reference, WASM or WebGPU path.
import type { RouterInput, RouterSpec, RuntimeOptions, Routing } from '../spec/types.js';
import { resolveRouterSpec } from '../spec/router-spec.js';
import { resolveRouterInput } from '../spec/router-input.js';
import { backendOption, cpuPath, requireGpuPath } from './paths.js';
import { assembleRouting } from './routing-result.js';

/**
 * Routes T tokens to experts and reports the dispatch plan, health statistics and losses.
 *
 * @example
 * const r = await route({ kind: 'topk', numExperts: 8, topK: 2, normalize: true }, { tokens: 4, logits });
 * r.indices; // Int32Array [4 * 2], experts per token, best first
 */
export async function route(spec: RouterSpec, input: RouterInput, options?: Pick<RuntimeOptions, 'backend' | 'device' | 'wasmModule'>): Promise<Routing> {
  const resolved = resolveRouterSpec(spec);
  const forced = backendOption(options);
  const inp = resolveRouterInput(input, resolved.numExperts);
  const nExpert = resolved.numExperts;
  // The CPU path also computes the router matmul and the plan when the selection runs on the GPU.
  const cpu = await cpuPath(options, forced === 'webgpu' ? 'auto' : forced);
  const logits = inp.source === 'logits'
    ? inp.logits
    : cpu.routerLogits({ hidden: inp.hidden, weight: inp.weight, bias: inp.bias, nToken: inp.nToken, dModel: inp.dModel, nExpert });
  const args = { logits, nToken: inp.nToken, nExpert, nExpertUsed: resolved.topK, normalize: resolved.normalize, scale: resolved.scale };
  const dims = { nToken: inp.nToken, nExpert, nExpertUsed: resolved.topK, sequenceLength: inp.sequenceLength };
  if (forced === 'webgpu') {
    const gpu = await requireGpuPath(options);
    const selection = await gpu.routeTopKSoftmax(args);
    return assembleRouting({ ...selection, logits }, dims, cpu, 'webgpu');
  }
  return assembleRouting({ ...cpu.topKSoftmax(args), logits }, dims, cpu, cpu.name);
}
