// The Chromium lanes' page: the conformance registry against the built browser bundle. run.mjs waits
// for globalThis.switchyardLanes and calls run(lane, backend) through Playwright.
import * as api from '/dist/switchyard.browser.js';
import { conformanceCases, runCases } from '/build/test/cases.js';

const cases = conformanceCases();
const context = {
  api,
  // run.mjs maps /goldens/ to ../shared/goldens.
  async readGolden(name, file) {
    const response = await fetch(`/goldens/${encodeURIComponent(name)}/${file}`);
    if (!response.ok) throw new Error(`golden ${name}/${file}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  },
  async gpuDevice() {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter for a device of the case\'s own');
    return adapter.requestDevice();
  },
};

async function gpuUnavailable() {
  if (!navigator.gpu) return 'navigator.gpu is missing (needs --enable-unsafe-webgpu and a secure context)';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? undefined : 'navigator.gpu.requestAdapter() returned null';
  } catch (e) {
    return `requestAdapter() threw: ${e instanceof Error ? e.message : String(e)}`;
  }
}

globalThis.switchyardLanes = {
  async run(lane, backend) {
    const unavailable = backend === 'webgpu' ? await gpuUnavailable() : undefined;
    if (unavailable) {
      return { lane, results: [], unavailable, notRun: cases.filter((c) => c.backends.includes(backend)).map((c) => c.name) };
    }
    return { lane, results: await runCases(cases, backend, context) };
  },
};
