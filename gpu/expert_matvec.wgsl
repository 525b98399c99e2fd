// expert_matvec: the decode path (a handful of tokens), one expert mat-vec per assignment instead of a
// GEMM whose 16-row tiles would be almost empty. For each slot s = t·k + j with expert e = indices[s]
// and plan row r = slot_row[s]:
//   a = x_s · w_a[e, n, :] + bias_a[e, n]   (only when GATED)
//   b = x_s · w_b[e, n, :] + bias_b[e, n]
//   out[r, n] = activate(a, b)              (gpu/activation.wgsl)
// with x_s = x[t, :] when x_by_token (up step: w_a = gate, w_b = up, → h) and x[r, :] otherwise (down
// step: ACTIVATION = identity, w_b = down, → y). The expert comes from the device (nothing read back);
// the plan rows from gather_by_expert, so combine is shared with the GEMM path. The shared expert runs
// here too, as k = 1 with every index 0 and slot_row the identity.
// Weights are f32, f16 or block-wise int8 (u32 words, ts/backends/webgpu-q8.ts); x and the weights
// are read four k at a time (the generated load_* functions:
// vec4 loads when kDim is a multiple of 4, else four bounds-checked scalars); partial sums are f32.
// Grid: linear workgroup id (folded into x, y) = slot · tiles_n + column tile; one dispatch per group of
// experts sharing a weight buffer, and a workgroup whose expert lies in another group exits.
// Work split: a workgroup covers COL_QUADS · 4 output columns; the K_SPLIT threads of one column quad
// take every K_SPLIT-th quad of k (so together they read 16·K_SPLIT contiguous bytes of each weight row
// per step), keep vec4 partial sums of their 4 columns, and add them in a log2(K_SPLIT)-step tree.
// Fewer threads per column than one per k quad keeps the barriers per output low (they dominate on CPU
// adapters) while the reads of a row stay contiguous across the split.
// Knobs: K_SPLIT (power of two), COL_QUADS; ACTIVATION (and GATED); HAS_BIAS_A, HAS_BIAS_B.
// Uniforms: shapes, the group's expert range, x_by_token, swiglu-oai's alpha and limit.
{{ENABLE_F16}}
{{PARAMS}}

{{ACTIVATION}}

override K_SPLIT: u32 = 8u;
override COL_QUADS: u32 = 8u;
override WG_SIZE: u32 = K_SPLIT * COL_QUADS;
override HAS_BIAS_A: bool = false;
override HAS_BIAS_B: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertMatvecParams;
// x: x_by_token: [nToken, kDim] (hidden); else [R, kDim] (h by plan row)
@group(0) @binding(1) var<storage, read> x: array<{{X_T}}>;
// indices: [nToken, nExpertUsed], −1 = no expert
@group(0) @binding(2) var<storage, read> indices: array<i32>;
// slot_row: [nToken · nExpertUsed] plan row of each assignment
@group(0) @binding(3) var<storage, read> slot_row: array<u32>;
// w_a: [nExpertGroup, nDim, kDim] (gate); read only when GATED (else w_b's buffer is bound here too)
@group(0) @binding(4) var<storage, read> w_a: array<{{W_T}}>;
// w_b: [nExpertGroup, nDim, kDim] (up, or down)
@group(0) @binding(5) var<storage, read> w_b: array<{{W_T}}>;
// bias_a: [nExpertGroup, nDim]; read only when HAS_BIAS_A
@group(0) @binding(6) var<storage, read> bias_a: array<f32>;
// bias_b: [nExpertGroup, nDim]; read only when HAS_BIAS_B
@group(0) @binding(7) var<storage, read> bias_b: array<f32>;
// out: [R, nDim]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

{{LOADS}}

// Per-thread partial sums of its 4 columns, [COL_QUADS][K_SPLIT], then the tree sum within each quad.
var<workgroup> s_a: array<vec4f, WG_SIZE>;
var<workgroup> s_b: array<vec4f, WG_SIZE>;
// (expert within the group, plan row); x = NO_JOB when the slot's expert is elsewhere or −1
var<workgroup> s_job: vec2u;

const NO_JOB: u32 = 0xffffffffu;

@compute @workgroup_size(WG_SIZE)
fn expert_matvec(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * nwg.x;
  let s = wid / params.tiles_n;
  if (s >= params.n_slot) {
    return;
  }
  if (lid == 0u) {
    let e = indices[s];
    var job = vec2u(NO_JOB, 0u);
    if (e >= 0 && u32(e) >= params.expert_base && u32(e) - params.expert_base < params.n_expert_group) {
      job = vec2u(u32(e) - params.expert_base, slot_row[s]);
    }
    s_job = job;
  }
  let job = workgroupUniformLoad(&s_job);
  if (job.x == NO_JOB) {
    return;
  }

  let k_dim = params.k_dim;
  let n_dim = params.n_dim;
  let lane = lid % K_SPLIT;
  let col0 = (wid % params.tiles_n) * 4u * COL_QUADS + 4u * (lid / K_SPLIT);
  let x_base = select(job.y, s / params.n_expert_used, params.x_by_token != 0u) * k_dim;
  // Columns past n_dim read the last row instead (valid memory, no branch in the loop); never written.
  let w0 = (job.x * n_dim + min(col0, n_dim - 1u)) * k_dim;
  let w1 = (job.x * n_dim + min(col0 + 1u, n_dim - 1u)) * k_dim;
  let w2 = (job.x * n_dim + min(col0 + 2u, n_dim - 1u)) * k_dim;
  let w3 = (job.x * n_dim + min(col0 + 3u, n_dim - 1u)) * k_dim;
  var acc_a = vec4f();
  var acc_b = vec4f();
  for (var k = 4u * lane; k < k_dim; k = k + 4u * K_SPLIT) {
    let xv = load_x(x_base, k, k_dim);
    acc_b = acc_b + vec4f(dot(xv, load_w_b(w0, k, k_dim)), dot(xv, load_w_b(w1, k, k_dim)),
                          dot(xv, load_w_b(w2, k, k_dim)), dot(xv, load_w_b(w3, k, k_dim)));
    if (GATED) {
      acc_a = acc_a + vec4f(dot(xv, load_w_a(w0, k, k_dim)), dot(xv, load_w_a(w1, k, k_dim)),
                            dot(xv, load_w_a(w2, k, k_dim)), dot(xv, load_w_a(w3, k, k_dim)));
    }
  }
  s_a[lid] = acc_a;
  s_b[lid] = acc_b;
  workgroupBarrier();
  for (var stride = K_SPLIT / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) {
      s_a[lid] = s_a[lid] + s_a[lid + stride];
      s_b[lid] = s_b[lid] + s_b[lid + stride];
    }
    workgroupBarrier();
  }
  // The first thread of each column quad writes its 4 columns.
  if (lane == 0u) {
    let a = s_a[lid];
    let b = s_b[lid];
    for (var c = 0u; c < 4u; c = c + 1u) {
      let n = col0 + c;
      if (n < n_dim) {
        var va = a[c];
        var vb = b[c];
        if (HAS_BIAS_A) {
          va = va + bias_a[job.x * n_dim + n];
        }
        if (HAS_BIAS_B) {
          vb = vb + bias_b[job.x * n_dim + n];
        }
        out[job.y * n_dim + n] = activate(va, vb, params.alpha, params.limit);
      }
    }
  }
}
