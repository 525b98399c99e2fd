// expert_ffn_up: the first half of every expert's FFN, as one grouped GEMM over the plan:
//   g = x[rows[r], :] · gate[e, n, :] + gate_bias[e, n],  u = x[rows[r], :] · up[e, n, :] + up_bias[e, n]
//   h[r, n] = activate(g, u)   (gpu/activation.wgsl: swiglu, geglu, swiglu-oai, gelu, relu, silu)
// for each plan row r of expert e (offsets[e] ≤ r < offsets[e+1]). Gate and up share the x tile and are
// fused with the activation, so the [R, dFF] pre-activations never reach memory. Ungated activations
// (GATED false) never touch the gate buffer or its workgroup tile.
// Weights are f32 or f16 ({{WEIGHT_T}}); tiles and accumulators are always f32.
// Grid: linear workgroup id (folded into x, y) → (expert, row tile, column tile) by walking the per-expert
// tile counts ceil(count_e / TILE_M) · tiles_n read from offsets on the device. The host sizes the grid
// for the worst case, tiles_n · (ceil(R / TILE_M) + min(nExpertGroup, R)); surplus workgroups exit.
// One dispatch covers one group of experts (expert_base .. expert_base + n_expert_group), since expert
// weights split across buffers when they exceed the storage binding limit.
// Knobs: TILE_M (rows), TILE_N (columns): one thread per output, TILE_M · TILE_N ≤ 256 threads;
// TILE_K: the reduction slice staged in workgroup memory ((TILE_M + 2 · TILE_N) · TILE_K floats);
// ACTIVATION (and GATED from it); HAS_GATE_BIAS, HAS_UP_BIAS (an absent bias binds a dummy, never read).
// Uniforms: shapes, the group's expert range, swiglu-oai's alpha and limit.
{{ENABLE_F16}}
{{PARAMS}}

{{ACTIVATION}}

override TILE_M: u32 = 16u;
override TILE_N: u32 = 16u;
override TILE_K: u32 = 16u;
override HAS_GATE_BIAS: bool = false;
override HAS_UP_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertFfnUpParams;
// x: [nToken, dModel]
@group(0) @binding(1) var<storage, read> x: array<f32>;
// rows: [R] token of each plan row
@group(0) @binding(2) var<storage, read> rows: array<u32>;
// offsets: [nExpert + 1] first plan row of each expert
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
// gate: [nExpertGroup, dFF, dModel]; read only when GATED (else the up buffer is bound here too)
@group(0) @binding(4) var<storage, read> gate: array<{{WEIGHT_T}}>;
// up: [nExpertGroup, dFF, dModel]
@group(0) @binding(5) var<storage, read> up: array<{{WEIGHT_T}}>;
// gate_bias: [nExpertGroup, dFF]; read only when HAS_GATE_BIAS
@group(0) @binding(6) var<storage, read> gate_bias: array<f32>;
// up_bias: [nExpertGroup, dFF]; read only when HAS_UP_BIAS
@group(0) @binding(7) var<storage, read> up_bias: array<f32>;
// h: [R, dFF]
@group(0) @binding(8) var<storage, read_write> h: array<f32>;

var<workgroup> s_x: array<f32, TILE_M * TILE_K>;
var<workgroup> s_gate: array<f32, TILE_N * TILE_K>;
var<workgroup> s_up: array<f32, TILE_N * TILE_K>;
// (expert within the group, first row, end row, first column); x = NO_TILE for surplus workgroups
var<workgroup> s_tile: vec4u;

const NO_TILE: u32 = 0xffffffffu;

@compute @workgroup_size(TILE_N, TILE_M)
fn expert_ffn_up(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
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
  let weight_base = tile.x * d_ff * d;
  let n_thread = TILE_M * TILE_N;
  var acc_gate = 0.0;
  var acc_up = 0.0;
  for (var k0 = 0u; k0 < d; k0 = k0 + TILE_K) {
    for (var i = lid; i < TILE_M * TILE_K; i = i + n_thread) {
      let r = tile.y + i / TILE_K;
      let k = k0 + i % TILE_K;
      var v = 0.0;
      if (r < tile.z && k < d) {
        v = x[rows[r] * d + k];
      }
      s_x[i] = v;
    }
    for (var i = lid; i < TILE_N * TILE_K; i = i + n_thread) {
      let n = tile.w + i / TILE_K;
      let k = k0 + i % TILE_K;
      var vg = 0.0;
      var vu = 0.0;
      if (n < d_ff && k < d) {
        if (GATED) {
          vg = f32(gate[weight_base + n * d + k]);
        }
        vu = f32(up[weight_base + n * d + k]);
      }
      s_gate[i] = vg;
      s_up[i] = vu;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k = k + 1u) {
      let xv = s_x[local.y * TILE_K + k];
      if (GATED) {
        acc_gate = fma(xv, s_gate[local.x * TILE_K + k], acc_gate);
      }
      acc_up = fma(xv, s_up[local.x * TILE_K + k], acc_up);
    }
    workgroupBarrier();
  }

  let r = tile.y + local.y;
  let n = tile.w + local.x;
  if (r < tile.z && n < d_ff) {
    if (HAS_GATE_BIAS) {
      acc_gate = acc_gate + gate_bias[tile.x * d_ff + n];
    }
    if (HAS_UP_BIAS) {
      acc_up = acc_up + up_bias[tile.x * d_ff + n];
    }
    h[r * d_ff + n] = activate(acc_gate, acc_up, params.alpha, params.limit);
  }
}
