// workerd / Cloudflare Workers entry (dist/switchyard.workerd.js). workerd refuses to compile WASM from
// bytes, so both builds are static imports of .wasm modules, which it hands over already compiled; the
// imports stay external in the bundle and are declared as `wasm` modules in the worker's config.
// No WebGPU there: the core's default provider finds no navigator.gpu.
import simd from './switchyard-simd.wasm';
import relaxed from './switchyard-relaxed.wasm';
import { setWasmModuleLoader } from '../runtime/providers.js';
import { compiledWasm } from './compiled-wasm.js';

setWasmModuleLoader(async (build) => (build === 'relaxed-simd' ? compiledWasm(relaxed, 'switchyard-relaxed.wasm') : compiledWasm(simd, 'switchyard-simd.wasm')));

export * from '../index.js';
