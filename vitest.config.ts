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

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/node/**/*.test.ts'],
    // Separate processes, not worker threads: Dawn (the `webgpu` addon) is a native module that holds
    // its process open, and a forked worker is torn down cleanly when the run ends.
    pool: 'forks',
    // GPU cases run on software adapters (lavapipe, SwiftShader) and start slowly.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
