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
// Weights are f32 or f16 ({{WEIGHT_T}}); partial sums are always f32.
// Grid: linear workgroup id (folded into x, y) = slot · tiles_n + column tile; one dispatch per group of
// experts sharing a weight buffer, and a workgroup whose expert lies in another group exits.
// Knobs: WG_SIZE threads split the reduction dimension (power of two, for the tree sum); COLS output
// columns per workgroup share each x element read; ACTIVATION (and GATED); HAS_BIAS_A, HAS_BIAS_B.
// Uniforms: shapes, the group's expert range, x_by_token, swiglu-oai's alpha and limit.
{{ENABLE_F16}}
{{PARAMS}}

{{ACTIVATION}}

override WG_SIZE: u32 = 64u;
override COLS: u32 = 4u;
override HAS_BIAS_A: bool = false;
override HAS_BIAS_B: bool = false;

@group(0) @binding(0) var<uniform> params: ExpertMatvecParams;
// x: x_by_token: [nToken, kDim] (hidden); else [R, kDim] (h by plan row)
@group(0) @binding(1) var<storage, read> x: array<f32>;
// indices: [nToken, nExpertUsed], −1 = no expert
@group(0) @binding(2) var<storage, read> indices: array<i32>;
// slot_row: [nToken · nExpertUsed] plan row of each assignment
@group(0) @binding(3) var<storage, read> slot_row: array<u32>;
// w_a: [nExpertGroup, nDim, kDim] (gate); read only when GATED (else w_b's buffer is bound here too)
@group(0) @binding(4) var<storage, read> w_a: array<{{WEIGHT_T}}>;
// w_b: [nExpertGroup, nDim, kDim] (up, or down)
@group(0) @binding(5) var<storage, read> w_b: array<{{WEIGHT_T}}>;
// bias_a: [nExpertGroup, nDim]; read only when HAS_BIAS_A
@group(0) @binding(6) var<storage, read> bias_a: array<f32>;
// bias_b: [nExpertGroup, nDim]; read only when HAS_BIAS_B
@group(0) @binding(7) var<storage, read> bias_b: array<f32>;
// out: [R, nDim]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

var<workgroup> s_a: array<f32, WG_SIZE * COLS>;
var<workgroup> s_b: array<f32, WG_SIZE * COLS>;
// (expert within the group, plan row); x = NO_JOB when the slot's expert is elsewhere or −1
var<workgroup> s_job: vec2u;

const NO_JOB: u32 = 0xffffffffu;

@compute @workgroup_size(WG_SIZE)
fn expert_matvec(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * nwg.x;
  let s = wid / params.tiles_n;
  let col0 = (wid % params.tiles_n) * COLS;
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
  let x_base = select(job.y, s / params.n_expert_used, params.x_by_token != 0u) * k_dim;
  for (var c = 0u; c < COLS; c = c + 1u) {
    let n = col0 + c;
    var acc_a = 0.0;
    var acc_b = 0.0;
    if (n < n_dim) {
      let w_base = (job.x * n_dim + n) * k_dim;
      for (var i = lid; i < k_dim; i = i + WG_SIZE) {
        let xv = x[x_base + i];
        if (GATED) {
          acc_a = fma(xv, f32(w_a[w_base + i]), acc_a);
        }
        acc_b = fma(xv, f32(w_b[w_base + i]), acc_b);
      }
    }
    s_a[c * WG_SIZE + lid] = acc_a;
    s_b[c * WG_SIZE + lid] = acc_b;
  }
  workgroupBarrier();
  for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      for (var c = 0u; c < COLS; c = c + 1u) {
        s_a[c * WG_SIZE + lid] = s_a[c * WG_SIZE + lid] + s_a[c * WG_SIZE + lid + stride];
        s_b[c * WG_SIZE + lid] = s_b[c * WG_SIZE + lid] + s_b[c * WG_SIZE + lid + stride];
      }
    }
    workgroupBarrier();
  }
  let n = col0 + lid;
  if (lid < COLS && n < n_dim) {
    var a = s_a[lid * WG_SIZE];
    var b = s_b[lid * WG_SIZE];
    if (HAS_BIAS_A) {
      a = a + bias_a[job.x * n_dim + n];
    }
    if (HAS_BIAS_B) {
      b = b + bias_b[job.x * n_dim + n];
    }
    out[job.y * n_dim + n] = activate(a, b, params.alpha, params.limit);
  }
}
