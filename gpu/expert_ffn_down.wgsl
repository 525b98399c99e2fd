// expert_ffn_down: the second half of every expert's FFN, as one grouped GEMM over the plan:
//   y[r, n] = h[r, :] · down[e, n, :] + down_bias[e, n]
// for each plan row r of expert e (offsets[e] ≤ r < offsets[e+1]); h comes from expert_ffn_up. The bias
// is part of the expert, so combine's routing weight multiplies it too: out = w · (down·h + b).
// Weights are f32 or f16 ({{WEIGHT_T}}); tiles and accumulators are always f32.
// Grid: as expert_ffn_up — linear workgroup id (folded into x, y) → (expert, row tile, column tile)
// through the per-expert tile counts on the device, worst-case grid tiles_n · (ceil(R / TILE_M) +
// min(nExpertGroup, R)), surplus workgroups exit; one dispatch per group of experts sharing a buffer.
// Knobs: TILE_M, TILE_N (one thread per output, TILE_M · TILE_N ≤ 256), TILE_K (reduction slice);
// HAS_BIAS (an absent bias binds a dummy, never read).
{{ENABLE_F16}}
{{PARAMS}}

override TILE_M: u32 = 16u;
override TILE_N: u32 = 16u;
override TILE_K: u32 = 16u;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertFfnDownParams;
// h: [R, dFF]
@group(0) @binding(1) var<storage, read> h: array<f32>;
// offsets: [nExpert + 1] first plan row of each expert
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
// down: [nExpertGroup, dModel, dFF]
@group(0) @binding(3) var<storage, read> down: array<{{WEIGHT_T}}>;
// down_bias: [nExpertGroup, dModel]; read only when HAS_BIAS
@group(0) @binding(4) var<storage, read> down_bias: array<f32>;
// y: [R, dModel]
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> s_h: array<f32, TILE_M * TILE_K>;
var<workgroup> s_down: array<f32, TILE_N * TILE_K>;
// (expert within the group, first row, end row, first column); x = NO_TILE for surplus workgroups
var<workgroup> s_tile: vec4u;

const NO_TILE: u32 = 0xffffffffu;

@compute @workgroup_size(TILE_N, TILE_M)
fn expert_ffn_down(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) local: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    var w = wg.x + wg.y * nwg.x;
    var tile = vec4u(NO_TILE, 0u, 0u, 0u);
    for (var g = 0u; g < params.n_expert_group; g = g + 1u) {
      let begin = offsets[params.expert_base + g];
      let end = offsets[params.expert_base + g + 1u];
      let n_tiles = ((end - begin + TILE_M - 1u) / TILE_M) * params.tiles_n;
      if (w < n_tiles) {
        tile = vec4u(g, begin + (w / params.tiles_n) * TILE_M, end, (w % params.tiles_n) * TILE_N);
        break;
      }
      w = w - n_tiles;
    }
    s_tile = tile;
  }
  let tile = workgroupUniformLoad(&s_tile);
  if (tile.x == NO_TILE) {
    return;
  }

  let d = params.d_model;
  let d_ff = params.d_ff;
  let weight_base = tile.x * d * d_ff;
  let n_thread = TILE_M * TILE_N;
  var acc = 0.0;
  for (var k0 = 0u; k0 < d_ff; k0 = k0 + TILE_K) {
    for (var i = lid; i < TILE_M * TILE_K; i = i + n_thread) {
      let r = tile.y + i / TILE_K;
      let k = k0 + i % TILE_K;
      var v = 0.0;
      if (r < tile.z && k < d_ff) {
        v = h[r * d_ff + k];
      }
      s_h[i] = v;
    }
    for (var i = lid; i < TILE_N * TILE_K; i = i + n_thread) {
      let n = tile.w + i / TILE_K;
      let k = k0 + i % TILE_K;
      var v = 0.0;
      if (n < d && k < d_ff) {
        v = f32(down[weight_base + n * d_ff + k]);
      }
      s_down[i] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k = k + 1u) {
      acc = fma(s_h[local.y * TILE_K + k], s_down[local.x * TILE_K + k], acc);
    }
    workgroupBarrier();
  }

  let r = tile.y + local.y;
  let n = tile.w + local.x;
  if (r < tile.z && n < d) {
    if (HAS_BIAS) {
      acc = acc + down_bias[tile.x * d + n];
    }
    y[r * d + n] = acc;
  }
}
