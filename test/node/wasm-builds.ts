// The WASM builds a test file runs. In the default vitest project, every build this engine compiles (on
// Node 20 only simd128). The relaxed-simd project (vitest.config.ts) runs the wasm test files again under
// --experimental-wasm-relaxed-simd, so `npm test` covers the relaxed (FMA) build and its own kernels on
// Node too: there only that build runs — simd128 is the default project's — and it must compile.
import { relaxedSimdSupported } from '../../ts/runtime/wasm-module.js';
import type { WasmBuild } from '../../ts/runtime/providers.js';

/** Set by the relaxed-simd project. */
export const RELAXED_PROJECT = process.env.SWITCHYARD_RELAXED_PROJECT === '1';

export const BUILD_FILES: Record<WasmBuild, string> = { simd128: 'switchyard-simd.wasm', 'relaxed-simd': 'switchyard-relaxed.wasm' };

export function buildsUnderTest(): WasmBuild[] {
  if (RELAXED_PROJECT) {
    if (!relaxedSimdSupported()) {
      throw new Error('the relaxed-simd project runs on an engine without relaxed SIMD (is --experimental-wasm-relaxed-simd in its execArgv?)');
    }
    return ['relaxed-simd'];
  }
  return relaxedSimdSupported() ? ['simd128', 'relaxed-simd'] : ['simd128'];
}
