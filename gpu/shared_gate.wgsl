// shared_gate: the σ gate of a shared expert (Qwen2-MoE's shared_expert_gate), per token t:
//   weight[t] = σ(hidden[t, :] · gate)
// combine multiplies the shared expert's output row t by it. Ungated shared experts (DeepSeek) skip this
// kernel: combine then uses weight 1 without reading this buffer.
// Grid: one workgroup per token (linear id folded into x, y); threads split the dot product and sum it
// in a fixed tree order, so the result does not depend on scheduling.
// Knobs: WG_SIZE (power of two, for the tree sum).

{{PARAMS}}

override WG_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> params: SharedGateParams;
// hidden: [nToken, dModel]
@group(0) @binding(1) var<storage, read> hidden: array<f32>;
// gate: [dModel]
@group(0) @binding(2) var<storage, read> gate: array<f32>;
// weight: [nToken]
@group(0) @binding(3) var<storage, read_write> weight: array<f32>;

var<workgroup> s_sum: array<f32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn shared_gate(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let t = wg.x + wg.y * nwg.x;
  if (t >= params.n_token) {
    return;
  }
  let d = params.d_model;
  var acc = 0.0;
  for (var i = lid; i < d; i = i + WG_SIZE) {
    acc = fma(hidden[t * d + i], gate[i], acc);
  }
  s_sum[lid] = acc;
  workgroupBarrier();
  for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      s_sum[lid] = s_sum[lid] + s_sum[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    // σ(z) = 1 / (1 + e^(−z)); e^(−z) → inf for very negative z gives 0, the limit.
    weight[t] = 1.0 / (1.0 + exp(-s_sum[0]));
  }
}
