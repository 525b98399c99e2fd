// combine: per token t and column c,
//   out[t, c] = Σ_j weights[t, j] · y[slot_row[t·k + j], c]  (+ shared_weight[t] · y_shared[t, c])
// summed in slot order j = 0 .. k−1, then the shared expert. Each output has one owner thread and a
// fixed order: deterministic, no float atomics. Slots whose expert is −1 (dropped) contribute nothing;
// a token with none gets 0 from the routed experts.
// Grid: one thread per output element, WG_SIZE per workgroup, linear workgroup id folded into x, y.
// Knobs: WG_SIZE; SHARED: 0 no shared expert, 1 shared expert with weight 1 (DeepSeek), 2 with the
// per-token σ gate from shared_gate (Qwen2-MoE). The shared bindings are dummies, never read, under 0.

{{PARAMS}}

override WG_SIZE: u32 = 256u;
override SHARED: u32 = 0u;

@group(0) @binding(0) var<uniform> params: CombineParams;
// indices: [nToken, nExpertUsed], −1 = no expert
@group(0) @binding(1) var<storage, read> indices: array<i32>;
// weights: [nToken, nExpertUsed]
@group(0) @binding(2) var<storage, read> weights: array<f32>;
// slot_row: [nToken · nExpertUsed] plan row of each assignment
@group(0) @binding(3) var<storage, read> slot_row: array<u32>;
// y: [R, dModel] expert outputs by plan row
@group(0) @binding(4) var<storage, read> y: array<f32>;
// y_shared: [nToken, dModel] shared expert output; read only when SHARED > 0
@group(0) @binding(5) var<storage, read> y_shared: array<f32>;
// shared_weight: [nToken]; read only when SHARED == 2
@group(0) @binding(6) var<storage, read> shared_weight: array<f32>;
// out: [nToken, dModel]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_SIZE)
fn combine(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wg.x + wg.y * nwg.x) * WG_SIZE + lid;
  let d = params.d_model;
  if (i >= params.n_token * d) {
    return;
  }
  let t = i / d;
  let c = i % d;
  let k = params.n_expert_used;
  var acc = 0.0;
  for (var j = 0u; j < k; j = j + 1u) {
    let s = t * k + j;
    if (indices[s] >= 0) {
      acc = fma(weights[s], y[slot_row[s] * d + c], acc);
    }
  }
  if (SHARED == 1u) {
    acc = acc + y_shared[i];
  } else if (SHARED == 2u) {
    acc = fma(shared_weight[t], y_shared[i], acc);
  }
  out[i] = acc;
}
