// The register-tiled grouped GEMMs (gpu/expert_ffn_up.wgsl, gpu/expert_ffn_down.wgsl) at their edges,
// against the oracle (ts/backends/reference.ts, f64): T ∈ {1, 7, 64, 257} forced onto the GEMM path,
// dModel and dFF below, between and at multiples of the tiles, in both load layouts (vec4 when the row
// length is a multiple of 4, scalar otherwise), k from 1 up to E, experts with no rows, dropped slots,
// five tile sizes (both defaults; one thread of 4 × 4 outputs with k slices of 4 — many tiles and slices
// per expert —; 8 × 8 threads of 4 × 4; 16 rows per thread on 4 threads), f32 and f16 weights; the same shapes on the decode mat-vec. Plus the host-side pieces
// that need no GPU: the tile check against device limits and the worst-case grid. Dawn (`webgpu` npm) on
// lavapipe here: shapes stay small. Without an adapter the GPU suite skips with its reason, except in CI
// (CI=true).
import { afterEach, describe, expect, it } from 'vitest';
import { dawnDeviceFor } from './dawn-device.js';
import { referenceBackend as ref } from '../../ts/backends/reference.js';
import { WebGpuBackend, type GpuMoEBlockWeights, type GpuRouting } from '../../ts/backends/webgpu.js';
import type { ExpertWeights } from '../../ts/backends/backend.js';
import {
  checkGemmTiles, DEFAULT_GEMM_TILES, defaultGemmTiles, groupedGemmWorkgroups, layoutFor, SOFTWARE_GEMM_TILES, tileCols, tileRows,
  type GemmTiles,
} from '../../ts/kernels/grouped-gemm.js';
import { ceilDiv } from '../../ts/kernels/wgsl.js';
import { deviceDescription } from '../../ts/runtime/gpu-device.js';
import { expectExact, expectRelativeToNorm } from '../cases/compare.js';
import { rng } from '../cases/rng.js';

/**
 * f32 weights: two chained f32 GEMMs with reductions of ≤ 64 terms (fma, k slices summed in order) and
 * an f32 silu, against f64; relative to the output's ‖·‖∞ (as webgpu-backend.test.ts).
 */
const OUTPUT_REL = 1e-4;
/** f16 weights against the f32 oracle: each weight off by ≤ 2^-11 relative (webgpu-experts.test.ts). */
const F16_REL = 2e-3;

const { device, reason } = await dawnDeviceFor('webgpu-gemm');

/** WebGPU's default limits (spec §3.6.2), the floor every adapter offers. */
const DEFAULT_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupStorageSize: 16384,
} as GPUSupportedLimits;

describe('grouped GEMM host side (no GPU needed)', () => {
  it('accepts both default tiles under the default limits and names what an oversized tile exceeds', () => {
    expect(checkGemmTiles(DEFAULT_LIMITS, DEFAULT_GEMM_TILES)).toEqual(DEFAULT_GEMM_TILES);
    expect(checkGemmTiles(DEFAULT_LIMITS, SOFTWARE_GEMM_TILES)).toEqual(SOFTWARE_GEMM_TILES);
    const bad = (t: GemmTiles, pattern: RegExp) =>
      expect(() => checkGemmTiles(DEFAULT_LIMITS, t)).toThrowError(expect.objectContaining({ code: 'limits', message: expect.stringMatching(pattern) }));
    bad({ ROWS: 4, WG_M: 16, WG_N: 32, TILE_K: 4 }, /maxComputeInvocationsPerWorkgroup/);
    bad({ ROWS: 4, WG_M: 16, WG_N: 16, TILE_K: 32 }, /maxComputeWorkgroupStorageSize/);
    bad({ ROWS: 4, WG_M: 4, WG_N: 8, TILE_K: 6 }, /multiple of 4/);
    bad({ ROWS: 6, WG_M: 4, WG_N: 8, TILE_K: 8 }, /ROWS must be/);
    bad({ ROWS: 4, WG_M: 0, WG_N: 8, TILE_K: 4 }, /positive integers/);
  });

  it('gives software adapters their own tiles, by the adapter description', () => {
    expect(defaultGemmTiles('mesa software llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)')).toBe(SOFTWARE_GEMM_TILES);
    expect(defaultGemmTiles('google swiftshader Subzero')).toBe(SOFTWARE_GEMM_TILES);
    expect(defaultGemmTiles('nvidia ampere NVIDIA GeForce RTX 3080')).toBe(DEFAULT_GEMM_TILES);
    expect(defaultGemmTiles(undefined)).toBe(DEFAULT_GEMM_TILES);
  });

  it('sizes the grid for the worst case: never fewer workgroups than the tiles of any row split', () => {
    const r = rng(31);
    for (let trial = 0; trial < 500; trial++) {
      const tiles = TILES[trial % TILES.length];
      const nExpert = 1 + Math.floor(r() * 12);
      const nRow = Math.floor(r() * 300);
      const nCol = 1 + Math.floor(r() * 100);
      // Rows spread over the experts at random, many experts empty.
      const counts = new Array<number>(nExpert).fill(0);
      for (let i = 0; i < nRow; i++) counts[Math.floor(r() ** 3 * nExpert)]++;
      const needed = ceilDiv(nCol, tileCols(tiles)) * counts.reduce((s, c) => s + ceilDiv(c, tileRows(tiles)), 0);
      expect(groupedGemmWorkgroups(nRow, nExpert, nCol, tiles)).toBeGreaterThanOrEqual(needed);
    }
  });
});

function uniform(n: number, r: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * r() - 1) * scale;
  return a;
}

interface Shape {
  nExpert: number;
  nExpertUsed: number;
  dModel: number;
  dFF: number;
}

/**
 * (E, k, dModel, dFF): vec4 up / scalar down, scalar up / vec4 down, both vec4 at exact multiples of the
 * 32-column tiles and 32-wide k slices, and both scalar with k = E; dFF 33 leaves one column in the last tile.
 */
const SHAPES: Shape[] = [
  { nExpert: 4, nExpertUsed: 2, dModel: 36, dFF: 33 },
  { nExpert: 6, nExpertUsed: 3, dModel: 13, dFF: 40 },
  { nExpert: 3, nExpertUsed: 1, dModel: 64, dFF: 64 },
  { nExpert: 3, nExpertUsed: 3, dModel: 21, dFF: 17 },
];
const TOKENS = [1, 7, 64, 257];
const TILES: GemmTiles[] = [
  DEFAULT_GEMM_TILES,
  SOFTWARE_GEMM_TILES,
  { ROWS: 4, WG_M: 1, WG_N: 1, TILE_K: 4 },
  { ROWS: 4, WG_M: 8, WG_N: 8, TILE_K: 16 },
  { ROWS: 16, WG_M: 1, WG_N: 4, TILE_K: 8 },
];

function makeWeights(s: Shape, r: () => number): GpuMoEBlockWeights {
  const { nExpert: E, dModel: d, dFF } = s;
  const experts: ExpertWeights = {
    nExpert: E, dModel: d, dFF, activation: 'swiglu',
    gate: uniform(E * dFF * d, r, 1 / Math.sqrt(d)),
    up: uniform(E * dFF * d, r, 1 / Math.sqrt(d)),
    down: uniform(E * d * dFF, r, 1 / Math.sqrt(dFF)),
    // Biases on, so a padded row or column that leaked into the output would show as a bias-sized error.
    gateBias: uniform(E * dFF, r, 0.5),
    upBias: uniform(E * dFF, r, 0.5),
    downBias: uniform(E * d, r, 0.5),
  };
  return { routerWeight: uniform(E * d, r, 2 / Math.sqrt(d)), experts, nExpertUsed: s.nExpertUsed, normalize: true };
}

/**
 * k distinct experts per token, skipping expert 0 whenever the others suffice (it keeps no rows), one
 * slot in five dropped (−1), so the tile walk meets empty experts at the start, middle and end.
 */
function givenRouting(s: Shape, nToken: number, r: () => number): GpuRouting {
  const { nExpert: E, nExpertUsed: k } = s;
  const indices = new Int32Array(nToken * k);
  const weights = new Float32Array(nToken * k);
  for (let t = 0; t < nToken; t++) {
    const pool = Array.from({ length: E }, (_, e) => e).filter((e) => e !== 0 || E - 1 < k);
    for (let j = 0; j < k; j++) {
      const e = pool.splice(Math.floor(r() * pool.length), 1)[0];
      const dropped = r() < 0.2;
      indices[t * k + j] = dropped ? -1 : e;
      weights[t * k + j] = dropped ? 0 : 0.25 + r();
    }
  }
  return { indices, weights, nExpertUsed: k };
}

describe.skipIf(!device)(`grouped GEMM edges on ${device ? deviceDescription(device) : 'no adapter'}`, () => {
  const backends: WebGpuBackend[] = [];
  const backend = async (gemmTiles?: GemmTiles) => {
    // matvecMaxTokens 0: T = 1 runs the GEMMs too (one row in one tile).
    const b = await WebGpuBackend.create(device!, { matvecMaxTokens: 0, gemmTiles });
    backends.push(b);
    return b;
  };
  afterEach(() => backends.splice(0).forEach((b) => b.destroy()));

  for (const tiles of TILES) {
    it(`matches the oracle with tiles ${JSON.stringify(tiles)} on ${SHAPES.length} shapes × T ∈ {${TOKENS}}, given and routed`, async () => {
      const gpu = await backend(tiles);
      for (const [i, s] of SHAPES.entries()) {
        const seed = 700 + i;
        const r = rng(seed);
        const w = makeWeights(s, r);
        const hidden = uniform(Math.max(...TOKENS) * s.dModel, r);
        const block = gpu.prepareBlock(w);
        for (const T of TOKENS) {
          const name = `seed=${seed} E=${s.nExpert} k=${s.nExpertUsed} d=${s.dModel} (${layoutFor(s.dModel)}) dFF=${s.dFF} (${layoutFor(s.dFF)}) T=${T}`;
          const routing = givenRouting(s, T, r);
          const given = await block.forward(hidden, T, { routing, plan: true });
          const plan = ref.buildPlan(routing.indices, routing.weights, T, s.nExpertUsed, s.nExpert);
          if (s.nExpert - 1 >= s.nExpertUsed) expect(plan.offsets[1], `${name}: expert 0 has no rows`).toBe(0);
          expectExact(`${name} plan.offsets`, given.plan!.offsets, plan.offsets);
          const want = ref.runExperts(ref.prepareExperts(w.experts), hidden, T, plan);
          expectRelativeToNorm(`${name} given routing`, given.output, want, OUTPUT_REL);
          // The block's own router: softmax top-k on the device, then the same GEMMs.
          const routed = await block.forward(hidden, T);
          const routedPlan = ref.buildPlan(routed.indices, routed.weights, T, s.nExpertUsed, s.nExpert);
          expectRelativeToNorm(`${name} routed`, routed.output, ref.runExperts(ref.prepareExperts(w.experts), hidden, T, routedPlan), OUTPUT_REL);
        }
        block.destroy();
      }
    });
  }

  it(`stores f16 weights within ${F16_REL} of the f32 oracle at every edge shape (f32 where shader-f16 is absent)`, async () => {
    const gpu = await backend(defaultGemmTiles(deviceDescription(device!)));
    for (const [i, s] of SHAPES.entries()) {
      const seed = 800 + i;
      const r = rng(seed);
      const w = makeWeights(s, r);
      const hidden = uniform(Math.max(...TOKENS) * s.dModel, r);
      const block = gpu.prepareBlock({ ...w, weightDtype: 'f16' });
      expect(block.weightDtype).toBe(device!.features.has('shader-f16') ? 'f16' : 'f32');
      for (const T of TOKENS) {
        const routing = givenRouting(s, T, r);
        const got = await block.forward(hidden, T, { routing });
        const plan = ref.buildPlan(routing.indices, routing.weights, T, s.nExpertUsed, s.nExpert);
        expectRelativeToNorm(`seed=${seed} f16 E=${s.nExpert} d=${s.dModel} dFF=${s.dFF} T=${T}`, got.output,
          ref.runExperts(ref.prepareExperts(w.experts), hidden, T, plan), F16_REL);
      }
      block.destroy();
    }
  });

  it('runs the same shapes on the decode mat-vec (T ∈ {1, 7}): vec4 and scalar rows, column tiles cut short', async () => {
    const gpu = await WebGpuBackend.create(device!, { matvecMaxTokens: 8 });
    backends.push(gpu);
    for (const [i, s] of SHAPES.entries()) {
      const seed = 900 + i;
      const r = rng(seed);
      const w = makeWeights(s, r);
      const hidden = uniform(7 * s.dModel, r);
      const block = gpu.prepareBlock(w);
      for (const T of [1, 7]) {
        const routing = givenRouting(s, T, r);
        const got = await block.forward(hidden, T, { routing });
        const plan = ref.buildPlan(routing.indices, routing.weights, T, s.nExpertUsed, s.nExpert);
        expectRelativeToNorm(`seed=${seed} mat-vec E=${s.nExpert} d=${s.dModel} dFF=${s.dFF} T=${T}`, got.output,
          ref.runExperts(ref.prepareExperts(w.experts), hidden, T, plan), OUTPUT_REL);
      }
      block.destroy();
    }
  });

  it("uses the adapter's default tiles unless told otherwise", async () => {
    expect((await backend()).gemmTiles).toEqual(defaultGemmTiles(deviceDescription(device!)));
    expect((await backend(TILES[2])).gemmTiles).toEqual(TILES[2]);
  });

  it('refuses tiles beyond the device limits when the backend is created', async () => {
    const limits = device!.limits;
    const tooMany = { ROWS: 4, WG_M: limits.maxComputeInvocationsPerWorkgroup, WG_N: 2, TILE_K: 4 };
    await expect(WebGpuBackend.create(device!, { gemmTiles: tooMany })).rejects.toThrowError(expect.objectContaining({ code: 'limits' }));
  });
});
