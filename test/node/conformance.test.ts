// The conformance registry in Node, from source: one describe per backend lane, one test per case.
// The library is imported through the Node entry so the WASM loader and Dawn GPU provider are the ones
// users get. In CI (CI=true) a missing GPU adapter fails the webgpu lane instead of skipping it.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, it } from 'vitest';
import * as api from '../../ts/entry/node.js';
import { getGpu } from '../../ts/runtime/providers.js';
import { conformanceCases } from '../cases/index.js';
import type { CaseContext, LaneBackend } from '../cases/types.js';
import { GOLDENS_DIR } from './goldens-dir.js';

declare module 'vitest' {
  interface TaskMeta {
    /** Why a case was skipped, for the summary of scripts/test.mjs. */
    skipReason?: string;
  }
}

const inCI = process.env.CI === 'true';

const context: Omit<CaseContext, 'backend'> = {
  api,
  readGolden: async (name, file) => new Uint8Array(await readFile(new URL(`${name}/${file}`, GOLDENS_DIR))),
  gpuDevice: async () => {
    // Dawn gives an adapter one device; each case that destroys one asks for a new adapter.
    const adapter = await (await getGpu())?.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter for a device of the case\'s own');
    return adapter.requestDevice();
  },
};

/** Why the webgpu lane cannot run here, or undefined when an adapter answers. */
async function gpuUnavailable(): Promise<string | undefined> {
  try {
    const gpu = await getGpu();
    if (!gpu) return 'no WebGPU in this Node (the optional `webgpu` package did not load)';
    const adapter = await gpu.requestAdapter();
    if (!adapter) return 'navigator.gpu.requestAdapter() returned null (no Vulkan driver? see .ci/install-system.sh)';
    return undefined;
  } catch (e) {
    return `requesting a WebGPU adapter threw: ${e instanceof Error ? e.message : String(e)}`;
  }
}

const cases = conformanceCases();
const lanes: LaneBackend[] = ['reference', 'wasm', 'webgpu'];

for (const backend of lanes) {
  describe(`node-${backend}`, () => {
    let unavailable: string | undefined;
    if (backend === 'webgpu') {
      beforeAll(async () => {
        unavailable = await gpuUnavailable();
        if (unavailable) console.warn(`node-webgpu: ${inCI ? 'FAILING' : 'skipping'}: ${unavailable}`);
      });
    }
    for (const c of cases.filter((c) => c.backends.includes(backend))) {
      it(c.name, async (test) => {
        if (unavailable) {
          if (inCI) throw new Error(`no WebGPU adapter in CI: ${unavailable}`);
          // Carried to scripts/test.mjs through the JSON reporter.
          test.task.meta.skipReason = unavailable;
          test.skip(unavailable);
        }
        await c.run({ ...context, backend });
      });
    }
  });
}
