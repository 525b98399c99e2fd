// What the two grouped GEMMs (gpu/expert_ffn_up.wgsl, gpu/expert_ffn_down.wgsl) share on the host: the
// tile-mapping fragment (gpu/grouped_tile.wgsl), their tile sizes checked against the device's limits,
// the worst-case grid, and the generated quad loads (four k per call, vec4 when the row length allows).
import source from '../../gpu/grouped_tile.wgsl';
import { SwitchyardError } from '../errors.js';
import type { WeightDtype } from './activation.js';
import { ceilDiv } from './wgsl.js';
import { Q8_BLOCK } from '../formats/q8.js';

/** Weights of one int8 block pair on the device, and its u32 words: both f16 scales, then the values (ts/backends/webgpu-q8.ts). */
export const Q8_PAIR = 2 * Q8_BLOCK;
export const Q8_PAIR_WORDS = 1 + Q8_PAIR / 4;

export const groupedTileSource: string = source;

/**
 * Tile sizes of both GEMMs. Each thread computes ROWS × 4 outputs: ROWS is substituted into the WGSL
 * (function-scope accumulator arrays need a constant size, so each ROWS is its own shader); WG_M, WG_N and
 * TILE_K are override constants. A workgroup covers TILE_M = ROWS·WG_M rows by TILE_N = 4·WG_N columns;
 * TILE_K is the reduction slice staged in workgroup memory per barrier pair.
 */
export interface GemmTiles {
  ROWS: number;
  WG_M: number;
  WG_N: number;
  TILE_K: number;
}

/**
 * For GPUs: 8 rows × 4 columns per thread, 2 × 16 threads → 16 rows × 64 columns, k slices of 16.
 * - 16-row tiles: a batched MoE layer gives each expert tens of rows (T·k/E = 16 at T 64, E 8, k 2), so
 *   taller tiles mostly compute padding; 16-row tiles ran that block ~1.5× faster than 32-row ones.
 * - 8 rows per thread instead of 4: each vec4 read from workgroup memory feeds twice the FMAs (20-30 %
 *   faster at M 64 and 256 and on the E8/k2 T64 block), 64 accumulators per thread in the gated kernel.
 * - 32 threads: one warp; workgroup memory (16 + 2·64)·16 floats = 9 KiB, under the default 16 KiB.
 * Measured only on software adapters here (lavapipe); no hardware GPU was at hand.
 */
export const DEFAULT_GEMM_TILES: GemmTiles = { ROWS: 8, WG_M: 2, WG_N: 16, TILE_K: 16 };

/**
 * For adapters that run shaders on the CPU (lavapipe, SwiftShader): 16 rows per thread on 1 × 16 threads
 * (the same 16 × 64 tile). There a workgroup's threads are SIMD lanes and every workgroup-memory read
 * with a lane-dependent address is a gather; with one thread row all threads read the same x quads (one
 * load, broadcast) and each gathered weight quad feeds 16 rows. lavapipe, same runs: 7-16 % faster than
 * DEFAULT_GEMM_TILES on the FFN M 64 and the E8/k2 T64 block (and ~25 % in a quieter run).
 */
export const SOFTWARE_GEMM_TILES: GemmTiles = { ROWS: 16, WG_M: 1, WG_N: 16, TILE_K: 16 };

/** The tiles for an adapter described as deviceDescription() does: software adapters get their own. */
export function defaultGemmTiles(adapterDescription: string | undefined): GemmTiles {
  return /software|swiftshader|llvmpipe|lavapipe/i.test(adapterDescription ?? '') ? SOFTWARE_GEMM_TILES : DEFAULT_GEMM_TILES;
}

/** Rows (TILE_M) and columns (TILE_N) of one workgroup's output tile. */
export function tileRows(t: GemmTiles): number {
  return t.ROWS * t.WG_M;
}
export function tileCols(t: GemmTiles): number {
  return 4 * t.WG_N;
}

/** Workgroup bytes of the gated up kernel (the larger of the two): x tile + gate and up tiles, f32. */
export function gemmWorkgroupBytes(t: GemmTiles): number {
  return (tileRows(t) + 2 * tileCols(t)) * t.TILE_K * 4 + 16;
}

/**
 * `tiles` checked against the device: ROWS 4, 8, 12 or 16 (rows are read
 * four at a time; more would spill the accumulators), TILE_K a positive multiple of 4,
 * WG_M·WG_N within maxComputeInvocationsPerWorkgroup and each within its per-dimension limit, the
 * workgroup tiles within maxComputeWorkgroupStorageSize.
 */
export function checkGemmTiles(limits: GPUSupportedLimits, tiles: GemmTiles): GemmTiles {
  const { ROWS, WG_M, WG_N, TILE_K } = tiles;
  const bad = (what: string) => new SwitchyardError('limits', 'gemmTiles', `${JSON.stringify(tiles)}: ${what}`);
  for (const v of [ROWS, WG_M, WG_N, TILE_K]) if (!Number.isInteger(v) || v < 1) throw bad('expected positive integers');
  if (ROWS % 4 !== 0 || ROWS > 16) throw bad('ROWS must be 4, 8, 12 or 16 (rows are read four at a time)');
  if (TILE_K % 4 !== 0) throw bad('TILE_K must be a multiple of 4 (quad loads)');
  if (WG_M * WG_N > limits.maxComputeInvocationsPerWorkgroup) {
    throw bad(`${WG_M * WG_N} threads exceed maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}`);
  }
  if (WG_N > limits.maxComputeWorkgroupSizeX || WG_M > limits.maxComputeWorkgroupSizeY) {
    throw bad(`exceeds maxComputeWorkgroupSizeX/Y ${limits.maxComputeWorkgroupSizeX}/${limits.maxComputeWorkgroupSizeY}`);
  }
  const bytes = gemmWorkgroupBytes(tiles);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    throw bad(`${bytes} bytes of workgroup memory exceed maxComputeWorkgroupStorageSize ${limits.maxComputeWorkgroupStorageSize}`);
  }
  return tiles;
}

/**
 * Worst-case workgroup count of one grouped-GEMM dispatch over `nRow` plan rows and `nExpertGroup`
 * experts: Σₑ ceil(countₑ / TILE_M) ≤ ceil(nRow / TILE_M) + (experts with rows), times the column tiles.
 */
export function groupedGemmWorkgroups(nRow: number, nExpertGroup: number, nCol: number, tiles: GemmTiles): number {
  return ceilDiv(nCol, tileCols(tiles)) * (ceilDiv(nRow, tileRows(tiles)) + Math.min(nExpertGroup, nRow));
}

/** How a GEMM operand of row length K is read: vec4 elements when K % 4 == 0 (rows start 16-byte aligned). */
export type Layout = 'vec4' | 'scalar';

export function layoutFor(rowLength: number): Layout {
  return rowLength % 4 === 0 ? 'vec4' : 'scalar';
}

/** The WGSL element type of a buffer of `type` values read in `layout`; int8 blocks are u32 words either way. */
export function elementType(type: WeightDtype, layout: Layout): string {
  if (type === 'int8') return 'u32';
  return layout === 'vec4' ? `vec4<${type}>` : type;
}

/**
 * WGSL `fn load_<buffer>(base: u32, k: u32, len: u32) -> vec4f`: elements base + k .. base + k + 3 of
 * `buffer` (a row starting at element `base`, of `len` elements) as f32, zero past the row's end. In the
 * vec4 layout base and k are multiples of 4 and so is len, so one bounds check covers the quad.
 */
export function quadLoad(buffer: string, layout: Layout, type: WeightDtype = 'f32'): string {
  const head = `fn load_${buffer}(base: u32, k: u32, len: u32) -> vec4f {`;
  if (type === 'int8') return q8QuadLoad(buffer, head);
  if (layout === 'vec4') {
    return `${head}\n  if (k >= len) {\n    return vec4f();\n  }\n  return vec4f(${buffer}[(base + k) / 4u]);\n}`;
  }
  return `${head}
  var v = vec4f();
  for (var i = 0u; i < 4u; i = i + 1u) {
    if (k + i < len) {
      v[i] = f32(${buffer}[base + k + i]);
    }
  }
  return v;
}`;
}

/**
 * The int8 quad load (ts/backends/webgpu-q8.ts): base is a row start (row · len), k a multiple of 4, so
 * the quad is one word of one block; rows are padded to 64 with zero weights, which covers a quad that
 * crosses len. Each byte is moved to the top of an i32 and shifted back down, sign-extending it. The
 * block's scale is decoded from its f16 bits by hand rather than by unpack2x16float, which WGSL lets
 * flush subnormals to zero (a scale below 2⁻¹⁴, from blocks whose largest |w| is under ~8e-3): a
 * subnormal is m · 2⁻²⁴, a normal f32 here, and a normal moves its exponent and mantissa into place.
 * Scales are ≥ 0 and finite (amax / 127), so sign and infinity need no case.
 */
function q8QuadLoad(buffer: string, head: string): string {
  return `${head}
  if (k >= len) {
    return vec4f();
  }
  let i = (base / len) * ((len + ${Q8_PAIR - 1}u) / ${Q8_PAIR}u) * ${Q8_PAIR}u + k;
  let pair = (i / ${Q8_PAIR}u) * ${Q8_PAIR_WORDS}u;
  let w = bitcast<i32>(${buffer}[pair + 1u + (i % ${Q8_PAIR}u) / 4u]);
  let q = vec4i(w << 24u, w << 16u, w << 8u, w) >> vec4u(24u);
  let h = (${buffer}[pair] >> ((i % ${Q8_PAIR}u) / ${Q8_BLOCK}u * 16u)) & 0xffffu;
  let e = h >> 10u;
  let m = h & 0x3ffu;
  let scale = select(bitcast<f32>(((e + 112u) << 23u) | (m << 13u)), f32(m) * 5.9604644775390625e-8, e == 0u);
  return vec4f(q) * scale;
}`;
}

/** The override constants of a tile choice (ROWS is substituted into the source instead). */
export function gemmConstants(t: GemmTiles): Record<string, number> {
  return { WG_M: t.WG_M, WG_N: t.WG_N, TILE_K: t.TILE_K };
}
