// Internals the benches reach that the public bundle does not export: the WASM backend (to run a bare
// one-expert plan) and the case registry's seeded generators. Bundled by bench/lib/build.mjs into
// bench/.build/internals.js; the public API itself is always taken from dist/switchyard.node.js.
export { createWasmBackend } from '../../ts/backends/wasm.js';
export { nodeThreadProvider } from '../../ts/entry/node-threads.js';
export { rng, normal } from '../../test/cases/rng.js';
export { f32ToBf16 } from '../../ts/formats/dtype.js';
