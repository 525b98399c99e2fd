// route(): routing alone, on the reference, WASM or WebGPU path.
import type { RouterInput, RouterSpec, RuntimeOptions, Routing } from '../spec/types.js';
import { resolveRouterSpec, slotsPerToken, type ResolvedRouterSpec, type ResolvedTopK } from '../spec/router-spec.js';
import { resolveRouterInput, type RouterData } from '../spec/router-input.js';
import { finiteResult } from '../spec/check.js';
import { SwitchyardError } from '../errors.js';
import type { CpuBackend } from '../backends/backend.js';
import { backendOption, cpuPath, requireGpuPath } from './paths.js';
import { assembleRouting } from './routing-result.js';

/** The routers the WebGPU router kernel implements: plain softmax top-k. */
export function gpuCanRoute(spec: ResolvedRouterSpec): spec is ResolvedTopK {
  return spec.kind === 'topk' && spec.score === 'softmax' && !spec.selectionBias && !spec.groups && !spec.capacity;
}

/**
 * Routes T tokens to experts and reports the dispatch plan, health statistics and losses.
 * With `backend: 'webgpu'`, routers the GPU kernel does not implement run on the CPU, and
 * `routing.backend` says so. `'auto'` routes on WASM (else the reference): the GPU kernel only selects
 * top-k over logits uploaded from the CPU and its result is read back, a round trip that costs more than
 * the selection it saves; and route() keeps no state between calls to cache a measurement in. Blocks
 * (createMoE) measure instead, where the GPU keeps the hidden states and experts on the device.
 *
 * @example
 * const r = await route({ kind: 'topk', numExperts: 8, topK: 2, normalize: true }, { tokens: 4, logits });
 * r.indices; // Int32Array [4 * 2], experts per token, best first
 */
export async function route(spec: RouterSpec, input: RouterInput, options?: Pick<RuntimeOptions, 'backend' | 'device' | 'wasmModule'>): Promise<Routing> {
  const resolved = resolveRouterSpec(spec);
  const forced = backendOption(options);
  const given = resolveRouterInput(input, resolved);
  // Given logits come back as routing.logits: a copy, taken now, so a caller that reuses its buffer (one
  // logits array for every call of a loop) changes neither this call nor the routings it keeps.
  const data = given.logits ? { ...given, logits: given.logits.slice() } : given;
  const cpu = await cpuPath(options, forced === 'webgpu' ? 'auto' : forced);
  // Forced 'webgpu' needs an adapter whatever the router: one the GPU kernel does not implement routes on
  // the CPU beside it (as in a WebGPU block), but without any adapter the call is refused like the others.
  if (forced === 'webgpu' && !gpuCanRoute(resolved) && options?.device === undefined) await requireGpuPath(options);
  if (forced === 'webgpu' && gpuCanRoute(resolved)) {
    try {
      return checkedLogits(await routeOnGpu(resolved, data, cpu, options), resolved, data);
    } catch (e) {
      // DESIGN.md §4: a lost device falls back to the CPU for the call, and says so once (per device).
      if (!(e instanceof SwitchyardError && e.code === 'device-lost')) throw e;
      const key: object = options?.device ?? warnedLost;
      if (!warnedLost.has(key)) {
        warnedLost.add(key);
        console.warn(`switchyard: WebGPU device lost (${e.message}); route() continues on the ${cpu.name} path`);
      }
    }
  }
  return checkedLogits({ ...cpu.route(resolved, data), backend: cpu.name }, resolved, data);
}

/** Devices whose loss route() has reported; the runtime's own device is keyed by the set itself. */
const warnedLost = new WeakSet<object>();

async function routeOnGpu(spec: ResolvedTopK, data: RouterData, cpu: CpuBackend, options: RuntimeOptions | undefined): Promise<Routing> {
  const gpu = await requireGpuPath(options);
  const logits = data.logits ?? cpu.routerLogits({
    hidden: data.hidden!, weight: data.weight!, bias: data.bias, nToken: data.nToken, dModel: data.dModel!, nExpert: spec.numExperts,
  });
  const selection = await gpu.routeTopKSoftmax({
    logits, nToken: data.nToken, nExpert: spec.numExperts, nExpertUsed: spec.topK, normalize: spec.normalize, scale: spec.scale,
  });
  const dims = { nToken: data.nToken, nExpert: spec.numExperts, nExpertUsed: spec.topK, sequenceLength: data.sequenceLength };
  return assembleRouting({ ...selection, logits }, dims, cpu, 'webgpu');
}

/**
 * Logits the router computed (not given: those were checked; the self router always computes) must not
 * have overflowed, nor the weights: f32 scores times an f32 `scale` can (unnormalised sqrt-softplus scores
 * of 1.7e19 times a scale of 1e20).
 */
function checkedLogits(routing: Routing, spec: ResolvedRouterSpec, data: RouterData): Routing {
  if (data.logits === undefined || spec.kind === 'self') {
    const formula = spec.kind === 'self' ? 'the logits hidden / temperature' : 'the logits hidden · weightᵀ + bias';
    finiteResult(routing.logits, spec.numExperts, 'input.hidden', formula, data.hidden);
  }
  finiteResult(routing.weights, slotsPerToken(spec), 'spec.scale', 'the routing weights (scores × scale)');
  return routing;
}
