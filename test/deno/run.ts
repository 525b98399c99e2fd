// Deno lanes: the conformance registry against the built Deno bundle, on WASM and on Deno's own WebGPU.
// Run by scripts/test.mjs after the build:
//   deno run --unstable-webgpu --allow-read --allow-env test/deno/run.ts
// Prints one line `SWITCHYARD_LANES <json>` (an array of lane reports) for the orchestrator.
import * as api from '../../dist/switchyard.deno.js';
import { conformanceCases, runCases } from '../../build/test/cases.js';
import type { CaseContext, CaseResult, ConformanceCase, LaneBackend } from '../cases/types.ts';

declare const Deno: {
  readFile(path: string | URL): Promise<Uint8Array>;
  env: { get(name: string): string | undefined };
  exit(code: number): never;
};

interface LaneReport {
  lane: string;
  results: CaseResult[];
  /** Why the lane could not run; its cases are then listed in `notRun`. */
  unavailable?: string;
  notRun?: string[];
}

const goldens = Deno.env.get('SWITCHYARD_GOLDENS') ?? new URL('../../../shared/goldens/', import.meta.url).pathname;
const context: Omit<CaseContext, 'backend'> = {
  api: api as unknown as CaseContext['api'],
  readGolden: (name, file) => Deno.readFile(`${goldens.replace(/\/$/, '')}/${name}/${file}`),
  gpuDevice: async () => {
    const adapter = await (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu?.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter for a device of the case\'s own');
    return adapter.requestDevice();
  },
};
const cases: ConformanceCase[] = conformanceCases();

async function gpuUnavailable(): Promise<string | undefined> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) return 'navigator.gpu is missing (Deno needs --unstable-webgpu)';
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? undefined : 'navigator.gpu.requestAdapter() returned null (no Vulkan driver?)';
  } catch (e) {
    return `requestAdapter() threw: ${e instanceof Error ? e.message : String(e)}`;
  }
}

async function lane(name: string, backend: LaneBackend, unavailable?: string): Promise<LaneReport> {
  if (unavailable) return { lane: name, results: [], unavailable, notRun: cases.filter((c) => c.backends.includes(backend)).map((c) => c.name) };
  return { lane: name, results: await runCases(cases, backend, context) };
}

const reports = [await lane('deno-wasm', 'wasm'), await lane('deno-webgpu', 'webgpu', await gpuUnavailable())];
console.log(`SWITCHYARD_LANES ${JSON.stringify(reports)}`);
// A live GPU device can keep the event loop alive; the results are out, so leave.
Deno.exit(0);
