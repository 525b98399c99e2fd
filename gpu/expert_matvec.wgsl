// expert_matvec: the decode path (a handful of tokens), one expert mat-vec per assignment instead of a
// GEMM whose 16-row tiles would be almost empty. For each slot s = t·k + j with expert e = indices[s]
// and plan row r = slot_row[s]:
//   gated = 1:  out[r, n] = silu(x[t, :] · w_a[e, n, :]) · (x[t, :] · w_b[e, n, :])   (gate, up → h)
//   gated = 0:  out[r, n] = x[r, :] · w_a[e, n, :]                                     (down: h → y)
// The expert comes from the device (nothing read back); the plan rows from gather_by_expert, so combine
// is shared with the GEMM path.
// Grid: linear workgroup id (folded into x, y) = slot · tiles_n + column tile; one dispatch per group of
// experts sharing a weight buffer, and a workgroup whose expert lies in another group exits.
// Knobs: WG_SIZE threads split the reduction dimension (power of two, for the tree sum); COLS output
// columns per workgroup share each x element read.

{{PARAMS}}

override WG_SIZE: u32 = 64u;
override COLS: u32 = 4u;

@group(0) @binding(0) var<uniform> params: ExpertMatvecParams;
// x: gated: [nToken, kDim] (hidden); not gated: [R, kDim] (h by plan row)
@group(0) @binding(1) var<storage, read> x: array<f32>;
// indices: [nToken, nExpertUsed], −1 = no expert
@group(0) @binding(2) var<storage, read> indices: array<i32>;
// slot_row: [nToken · nExpertUsed] plan row of each assignment
@group(0) @binding(3) var<storage, read> slot_row: array<u32>;
// w_a: [nExpertGroup, nDim, kDim] (gate, or down)
@group(0) @binding(4) var<storage, read> w_a: array<{{WEIGHT_T}}>;
// w_b: [nExpertGroup, nDim, kDim] (up); read only when gated
@group(0) @binding(5) var<storage, read> w_b: array<{{WEIGHT_T}}>;
// out: [R, nDim]
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

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
  let gated = params.gated != 0u;
  let x_base = select(job.y, s / params.n_expert_used, gated) * k_dim;
  for (var c = 0u; c < COLS; c = c + 1u) {
    let n = col0 + c;
    var acc_a = 0.0;
    var acc_b = 0.0;
    if (n < n_dim) {
      let w_base = (job.x * n_dim + n) * k_dim;
      for (var i = lid; i < k_dim; i = i + WG_SIZE) {
        let xv = x[x_base + i];
        acc_a = fma(xv, f32(w_a[w_base + i]), acc_a);
        if (gated) {
          acc_b = fma(xv, f32(w_b[w_base + i]), acc_b);
        }
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
  if (lid < COLS && col0 + lid < n_dim) {
    let a = s_a[lid * WG_SIZE];
    var v = a;
    if (gated) {
      // silu(a) = a · σ(a), as in expert_ffn_up.
      v = a / (1.0 + exp(-a)) * s_b[lid * WG_SIZE];
    }
    out[job.y * n_dim + col0 + lid] = v;
  }
}
