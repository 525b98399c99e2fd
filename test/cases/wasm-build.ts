// The WASM path runs the best build the engine accepts: the relaxed-SIMD (FMA) one where relaxed opcodes
// validate (Deno, Chromium), plain SIMD128 elsewhere (Node 20 without a flag). Without this case a lane
// whose loader fell back to SIMD128 would pass every other case and never run the FMA kernels at all.
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

/**
 * A module of its own, not the library's probe: () -> v128 returning i8x16.relaxed_swizzle(0, 0).
 * An engine without relaxed SIMD rejects it in validation.
 */
const RELAXED_SWIZZLE_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, 0x2b, 0x01, 0x29, 0x00, // code: one body of 41 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x80, 0x02, // i8x16.relaxed_swizzle (0xfd 0x100)
  0x0b, // end
]);

async function run(ctx: CaseContext): Promise<void> {
  const d = 8;
  const E = 4;
  const f = 4;
  const moe = await ctx.api.createMoE(
    { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' } },
    {
      'router.weight': new Float32Array(E * d).fill(0.1), 'experts.gate': new Float32Array(E * f * d).fill(0.1),
      'experts.up': new Float32Array(E * f * d).fill(0.1), 'experts.down': new Float32Array(E * d * f).fill(0.1),
    },
    { backend: 'wasm' },
  );
  try {
    await moe.forward(new Float32Array(d).fill(1), { tokens: 1 });
    const want = WebAssembly.validate(RELAXED_SWIZZLE_MODULE) ? 'relaxed-simd' : 'simd128';
    const got = (moe as { wasmBuild?: string }).wasmBuild;
    if (got !== want) throw new CaseFailure(`the wasm path runs the ${String(got)} build; this engine validates relaxed SIMD: ${want === 'relaxed-simd'}`);
  } finally {
    moe.destroy();
  }
}

export const wasmBuildCases: ConformanceCase[] = [{
  name: 'the wasm path runs the relaxed-SIMD build wherever the engine validates relaxed opcodes, else SIMD128',
  backends: ['wasm'],
  run,
}];
