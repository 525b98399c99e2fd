// The workerd lane's worker: the conformance registry against the built workerd bundle on WASM.
// Module names are those of the generated config (see run.mjs): the bundle imports both .wasm
// builds, which workerd hands over compiled; goldens.js maps golden files to `data` modules.
import * as api from './switchyard.workerd.js';
import { conformanceCases, runCases } from './cases.js';
import goldens from './goldens.js';

const context = {
  api,
  async readGolden(name, file) {
    const data = goldens[`${name}/${file}`];
    if (!data) throw new Error(`golden ${name}/${file} is not in the worker's config`);
    return new Uint8Array(data);
  },
};

export default {
  async fetch(request) {
    const { pathname, searchParams } = new URL(request.url);
    // The orchestrator polls /ready until workerd serves; only /run runs the cases.
    if (pathname !== '/run') return new Response(pathname === '/ready' ? 'ready' : 'not found', { status: pathname === '/ready' ? 200 : 404 });
    const lane = searchParams.get('lane') ?? 'workerd-wasm';
    const backend = searchParams.get('backend') ?? 'wasm';
    const results = await runCases(conformanceCases(), backend, context);
    return Response.json({ lane, results });
  },
};
