// WGSL kernels are imported as text (esbuild loader '.wgsl': 'text'; vitest loads them the same way).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
