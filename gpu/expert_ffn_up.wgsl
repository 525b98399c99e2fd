// expert_ffn_up: the first half of every expert's FFN, as one grouped GEMM over the plan:
//   g = x[rows[r], :] · gate[e, n, :] + gate_bias[e, n],  u = x[rows[r], :] · up[e, n, :] + up_bias[e, n]
//   h[r, n] = activate(g, u)   (gpu/activation.wgsl: swiglu, geglu, swiglu-oai, gelu, relu, silu)
// for each plan row r of expert e (offsets[e] ≤ r < offsets[e+1]). Gate and up share the x tile and are
// fused with the activation, so the [R, dFF] pre-activations never reach memory. Ungated activations
// (GATED false) never touch the gate buffer or its workgroup tile.
// Weights are f32, f16 or block-wise int8 (u32 words, ts/backends/webgpu-q8.ts); x and the weights
// are read four k at a time (the generated load_* functions:
// vec4 loads when dModel is a multiple of 4, else four bounds-checked scalars). Tiles and accumulators
// are always f32.
// Grid: linear workgroup id (folded into x, y) → (expert, row tile, column tile) by gpu/grouped_tile.wgsl;
// one dispatch per group of experts sharing a weight buffer (expert_base .. expert_base + n_expert_group).
// Register tiling: each thread owns a ROWS × 4 block of outputs (rows ROWS·local.y.., columns
// 4·local.x..), so per k it reads ROWS/4 vec4s of x and one vec4 of each weight from workgroup memory
// for 4·ROWS (8·ROWS gated) FMAs.
// Knobs: ROWS (a multiple of 4, substituted: function-scope arrays need a constant size); WG_M × WG_N
// threads (TILE_M = ROWS·WG_M rows, TILE_N = 4·WG_N columns); TILE_K (multiple of 4),
// the reduction slice staged in workgroup memory: (TILE_M + 2·TILE_N) · TILE_K floats; ACTIVATION (and
// GATED from it); HAS_GATE_BIAS, HAS_UP_BIAS (an absent bias binds a dummy, never read). The host's
// default and its reasons: DEFAULT_GEMM_TILES in ts/kernels/grouped-gemm.ts.
// Uniforms: shapes, the group's expert range, tiles_n = ceil(dFF / TILE_N), swiglu-oai's alpha and limit.
{{ENABLE_F16}}
{{PARAMS}}

{{ACTIVATION}}

{{GROUPED_TILE}}

override WG_M: u32 = 2u;
override WG_N: u32 = 16u;
override TILE_K: u32 = 16u;
const ROWS: u32 = {{ROWS}}u;
override TILE_M: u32 = ROWS * WG_M;
override TILE_N: u32 = 4u * WG_N;
override HAS_GATE_BIAS: bool = false;
override HAS_UP_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertFfnUpParams;
// x: [nToken, dModel] (vec4 elements when the layout is vec4)
@group(0) @binding(1) var<storage, read> x: array<{{X_T}}>;
// rows: [R] token of each plan row
@group(0) @binding(2) var<storage, read> rows: array<u32>;
// offsets: [nExpert + 1] first plan row of each expert
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
// gate: [nExpertGroup, dFF, dModel]; read only when GATED (else the up buffer is bound here too)
@group(0) @binding(4) var<storage, read> gate: array<{{W_T}}>;
// up: [nExpertGroup, dFF, dModel]
@group(0) @binding(5) var<storage, read> up: array<{{W_T}}>;
// gate_bias: [nExpertGroup, dFF]; read only when HAS_GATE_BIAS
@group(0) @binding(6) var<storage, read> gate_bias: array<f32>;
// up_bias: [nExpertGroup, dFF]; read only when HAS_UP_BIAS
@group(0) @binding(7) var<storage, read> up_bias: array<f32>;
// h: [R, dFF]
@group(0) @binding(8) var<storage, read_write> h: array<f32>;

{{LOADS}}

// Tiles stored k-major, four rows (columns) per vec4: s_x[k · TILE_M/4 + i] holds tile rows 4i .. 4i+3 at
// k, so the inner loop reads four of a thread's rows (its four columns) with one load.
var<workgroup> s_x: array<vec4f, TILE_K * TILE_M / 4u>;
var<workgroup> s_gate: array<vec4f, TILE_K * WG_N>;
var<workgroup> s_up: array<vec4f, TILE_K * WG_N>;
var<workgroup> s_tile: vec4u;

@compute @workgroup_size(WG_N, WG_M)
fn expert_ffn_up(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
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
  let weight_base = tile.x * d_ff * d;
  let n_thread = WG_M * WG_N;
  let quads = TILE_K / 4u;
  var acc_g: array<vec4f, ROWS>;
  var acc_u: array<vec4f, ROWS>;
  for (var k0 = 0u; k0 < d; k0 = k0 + TILE_K) {
    // Stage x rows and weight rows, four k per load, transposed into the k-major tiles; rows past the
    // expert's end, columns past dFF and k past dModel stage zeros.
    for (var i = lid; i < TILE_M * quads; i = i + n_thread) {
      let m = i / quads;
      let k = k0 + 4u * (i % quads);
      let r = tile.y + m;
      var v = vec4f();
      if (r < tile.z) {
        v = load_x(rows[r] * d, k, d);
      }
      let s = 4u * (i % quads) * (TILE_M / 4u) + m / 4u;
      s_x[s][m % 4u] = v.x;
      s_x[s + TILE_M / 4u][m % 4u] = v.y;
      s_x[s + 2u * (TILE_M / 4u)][m % 4u] = v.z;
      s_x[s + 3u * (TILE_M / 4u)][m % 4u] = v.w;
    }
    for (var i = lid; i < TILE_N * quads; i = i + n_thread) {
      let c = i / quads;
      let k = k0 + 4u * (i % quads);
      let n = tile.w + c;
      var vu = vec4f();
      var vg = vec4f();
      if (n < d_ff) {
        vu = load_up(weight_base + n * d, k, d);
        if (GATED) {
          vg = load_gate(weight_base + n * d, k, d);
        }
      }
      let s = 4u * (i % quads) * WG_N + c / 4u;
      s_up[s][c % 4u] = vu.x;
      s_up[s + WG_N][c % 4u] = vu.y;
      s_up[s + 2u * WG_N][c % 4u] = vu.z;
      s_up[s + 3u * WG_N][c % 4u] = vu.w;
      if (GATED) {
        s_gate[s][c % 4u] = vg.x;
        s_gate[s + WG_N][c % 4u] = vg.y;
        s_gate[s + 2u * WG_N][c % 4u] = vg.z;
        s_gate[s + 3u * WG_N][c % 4u] = vg.w;
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k = k + 1u) {
      let u = s_up[k * WG_N + local.x];
      var g = vec4f();
      if (GATED) {
        g = s_gate[k * WG_N + local.x];
      }
      for (var q = 0u; q < ROWS / 4u; q = q + 1u) {
        let a = s_x[k * (TILE_M / 4u) + local.y * (ROWS / 4u) + q];
        acc_u[4u * q] = fma(vec4f(a.x), u, acc_u[4u * q]);
        acc_u[4u * q + 1u] = fma(vec4f(a.y), u, acc_u[4u * q + 1u]);
        acc_u[4u * q + 2u] = fma(vec4f(a.z), u, acc_u[4u * q + 2u]);
        acc_u[4u * q + 3u] = fma(vec4f(a.w), u, acc_u[4u * q + 3u]);
        if (GATED) {
          acc_g[4u * q] = fma(vec4f(a.x), g, acc_g[4u * q]);
          acc_g[4u * q + 1u] = fma(vec4f(a.y), g, acc_g[4u * q + 1u]);
          acc_g[4u * q + 2u] = fma(vec4f(a.z), g, acc_g[4u * q + 2u]);
          acc_g[4u * q + 3u] = fma(vec4f(a.w), g, acc_g[4u * q + 3u]);
        }
      }
    }
    workgroupBarrier();
  }

  let n0 = tile.w + 4u * local.x;
  var bias_g = vec4f();
  var bias_u = vec4f();
  for (var c = 0u; c < 4u; c = c + 1u) {
    if (n0 + c < d_ff) {
      if (HAS_GATE_BIAS) {
        bias_g[c] = gate_bias[tile.x * d_ff + n0 + c];
      }
      if (HAS_UP_BIAS) {
        bias_u[c] = up_bias[tile.x * d_ff + n0 + c];
      }
    }
  }
  for (var i = 0u; i < ROWS; i = i + 1u) {
    let r = tile.y + ROWS * local.y + i;
    if (r < tile.z) {
      let g = acc_g[i] + bias_g;
      let u = acc_u[i] + bias_u;
      for (var c = 0u; c < 4u; c = c + 1u) {
        if (n0 + c < d_ff) {
          h[r * d_ff + n0 + c] = activate(g[c], u[c], params.alpha, params.limit);
        }
      }
    }
  }
}
