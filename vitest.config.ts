import { defineConfig, type Plugin } from 'vitest/config';

/** Imports `.wgsl` files as their text, as esbuild's `loader: { '.wgsl': 'text' }` does for the bundles. */
function wgslText(): Plugin {
  return {
    name: 'switchyard-wgsl-text',
    transform(source, id) {
      if (!id.endsWith('.wgsl')) return undefined;
      return { code: `export default ${JSON.stringify(source)};`, map: null };
    },
  };
}

/** The test files that run each WASM build they can compile (test/node/wasm-builds.ts). */
const RELAXED_FILES = ['backend', 'convert', 'device-weights', 'experts', 'experts-dtype', 'experts-f16', 'experts-fold', 'router', 'row-groups', 'threads', 'widen', 'decode', 'pack-threads']
  .map((name) => `test/node/wasm-${name}.test.ts`);

export default defineConfig({
  plugins: [wgslText()],
  test: {
    // Separate processes, not worker threads: Dawn (the `webgpu` addon) is a native module that holds
    // its process open, and a forked worker is torn down cleanly when the run ends.
    pool: 'forks',
    // GPU cases run on software adapters (lavapipe, SwiftShader) and start slowly.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'node', include: ['test/node/**/*.test.ts'] } },
      // Node 20 compiles relaxed SIMD only behind a flag, so its WASM files run again with it: the
      // relaxed (FMA) build has kernels of its own (assembly/ffn/tile.ts SIX_ROW_GROUPS). Only that
      // build runs there (test/node/wasm-builds.ts).
      {
        extends: true,
        test: {
          name: 'relaxed-simd',
          include: RELAXED_FILES,
          execArgv: ['--experimental-wasm-relaxed-simd'],
          env: { SWITCHYARD_RELAXED_PROJECT: '1' },
        },
      },
    ],
  },
});
