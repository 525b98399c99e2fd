// expert_ffn_down: the second half of every expert's FFN, as one grouped GEMM over the plan:
//   y[r, n] = h[r, :] · down[e, n, :] + down_bias[e, n]
// for each plan row r of expert e (offsets[e] ≤ r < offsets[e+1]); h comes from expert_ffn_up. The bias
// is part of the expert, so combine's routing weight multiplies it too: out = w · (down·h + b).
// Weights are f32, f16 or block-wise int8 (u32 words, ts/backends/webgpu-q8.ts); h and the weights
// are read four k at a time (the generated load_* functions:
// vec4 loads when dFF is a multiple of 4, else four bounds-checked scalars). Tiles and accumulators are
// always f32.
// Grid: as expert_ffn_up — linear workgroup id (folded into x, y) → (expert, row tile, column tile) by
// gpu/grouped_tile.wgsl, worst-case grid, one dispatch per group of experts sharing a weight buffer.
// Register tiling: each thread owns a ROWS × 4 block of outputs, ROWS/4 vec4s of h and one of down per k
// from workgroup memory for 4·ROWS FMAs.
// Knobs: ROWS (multiple of 4, substituted); WG_M × WG_N threads (TILE_M = ROWS·WG_M, TILE_N = 4·WG_N);
// TILE_K (multiple of 4): (TILE_M + TILE_N)
// · TILE_K floats of workgroup memory; HAS_BIAS (an absent bias binds a dummy, never read).
// Uniforms: shapes, the group's expert range, tiles_n = ceil(dModel / TILE_N).
{{ENABLE_F16}}
{{PARAMS}}

{{GROUPED_TILE}}

override WG_M: u32 = 2u;
override WG_N: u32 = 16u;
override TILE_K: u32 = 16u;
const ROWS: u32 = {{ROWS}}u;
override TILE_M: u32 = ROWS * WG_M;
override TILE_N: u32 = 4u * WG_N;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertFfnDownParams;
// h: [R, dFF] (vec4 elements when the layout is vec4)
@group(0) @binding(1) var<storage, read> h: array<{{H_T}}>;
// offsets: [nExpert + 1] first plan row of each expert
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
// down: [nExpertGroup, dModel, dFF]
@group(0) @binding(3) var<storage, read> down: array<{{W_T}}>;
// down_bias: [nExpertGroup, dModel]; read only when HAS_BIAS
@group(0) @binding(4) var<storage, read> down_bias: array<f32>;
// y: [R, dModel]
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

{{LOADS}}

// k-major tiles, four rows (columns) per vec4, as in expert_ffn_up.
var<workgroup> s_h: array<vec4f, TILE_K * TILE_M / 4u>;
var<workgroup> s_down: array<vec4f, TILE_K * WG_N>;
var<workgroup> s_tile: vec4u;

@compute @workgroup_size(WG_N, WG_M)
fn expert_ffn_down(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) local: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    s_tile = grouped_tile(wg.x + wg.y * nwg.x, TILE_M, TILE_N);
  }
  let tile = workgroupUniformLoad(&s_tile);
  if (tile.x == NO_TILE) {
    return;
  }

  let d = params.d_model;
  let d_ff = params.d_ff;
  let weight_base = tile.x * d * d_ff;
  let n_thread = WG_M * WG_N;
  let quads = TILE_K / 4u;
  var acc: array<vec4f, ROWS>;
  for (var k0 = 0u; k0 < d_ff; k0 = k0 + TILE_K) {
    for (var i = lid; i < TILE_M * quads; i = i + n_thread) {
      let m = i / quads;
      let k = k0 + 4u * (i % quads);
      let r = tile.y + m;
      var v = vec4f();
      if (r < tile.z) {
        v = load_h(r * d_ff, k, d_ff);
      }
      let s = 4u * (i % quads) * (TILE_M / 4u) + m / 4u;
      s_h[s][m % 4u] = v.x;
      s_h[s + TILE_M / 4u][m % 4u] = v.y;
      s_h[s + 2u * (TILE_M / 4u)][m % 4u] = v.z;
      s_h[s + 3u * (TILE_M / 4u)][m % 4u] = v.w;
    }
    for (var i = lid; i < TILE_N * quads; i = i + n_thread) {
      let c = i / quads;
      let k = k0 + 4u * (i % quads);
      let n = tile.w + c;
      var v = vec4f();
      if (n < d) {
        v = load_down(weight_base + n * d_ff, k, d_ff);
      }
      let s = 4u * (i % quads) * WG_N + c / 4u;
      s_down[s][c % 4u] = v.x;
      s_down[s + WG_N][c % 4u] = v.y;
      s_down[s + 2u * WG_N][c % 4u] = v.z;
      s_down[s + 3u * WG_N][c % 4u] = v.w;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k = k + 1u) {
      let b = s_down[k * WG_N + local.x];
      for (var q = 0u; q < ROWS / 4u; q = q + 1u) {
        let a = s_h[k * (TILE_M / 4u) + local.y * (ROWS / 4u) + q];
        acc[4u * q] = fma(vec4f(a.x), b, acc[4u * q]);
        acc[4u * q + 1u] = fma(vec4f(a.y), b, acc[4u * q + 1u]);
        acc[4u * q + 2u] = fma(vec4f(a.z), b, acc[4u * q + 2u]);
        acc[4u * q + 3u] = fma(vec4f(a.w), b, acc[4u * q + 3u]);
      }
    }
    workgroupBarrier();
  }

  let n0 = tile.w + 4u * local.x;
  var bias = vec4f();
  if (HAS_BIAS) {
    for (var c = 0u; c < 4u; c = c + 1u) {
      if (n0 + c < d) {
        bias[c] = down_bias[tile.x * d + n0 + c];
      }
    }
  }
  for (var i = 0u; i < ROWS; i = i + 1u) {
    let r = tile.y + ROWS * local.y + i;
    if (r < tile.z) {
      let v = acc[i] + bias;
      for (var c = 0u; c < 4u; c = c + 1u) {
        if (n0 + c < d) {
          y[r * d + n0 + c] = v[c];
        }
      }
    }
  }
}
