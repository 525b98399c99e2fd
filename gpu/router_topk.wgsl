// router_topk: the router of one MoE block, per token t:
//   logits[t, :] = hidden[t, :] · weightᵀ + bias      (or logits given: read instead of written)
//   probs[t, :]  = softmax(logits[t, :]) over all nExpert experts
//   indices[t, :] = the nExpertUsed distinct experts of highest prob, descending, ties to the lower index —
//                   ranked by logit, which orders them as the probs do, and as the CPU paths' f64 probs do
//                   (f32 probs round logits 1 ulp apart to one value, and underflow: they would not)
//   weights[t, j] = probs[t, indices[t, j]], divided by their sum (+1e-20) if normalize, times scale
// Grid: one workgroup per token (linear id folded into x, y). Threads share the experts for the logits,
// reduce max and sum together, and thread 0 selects serially: k·E compares, cheap for E ≤ 256.
// Knobs: WG_SIZE (power of two, for the tree reductions), MAX_EXPERT (= nExpert, sizes the score tile).

{{PARAMS}}

override WG_SIZE: u32 = 64u;
override MAX_EXPERT: u32 = 8u;

@group(0) @binding(0) var<uniform> params: RouterTopkParams;
// hidden: [nToken, dModel]; unused when params.compute_logits == 0
@group(0) @binding(1) var<storage, read> hidden: array<f32>;
// weight: [nExpert, dModel]
@group(0) @binding(2) var<storage, read> weight: array<f32>;
// bias: [nExpert]; read only when params.has_bias != 0
@group(0) @binding(3) var<storage, read> bias: array<f32>;
// logits: [nToken, nExpert]; written when computed, read when given
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;
// probs: [nToken, nExpert]
@group(0) @binding(5) var<storage, read_write> probs: array<f32>;
// indices: [nToken, nExpertUsed]
@group(0) @binding(6) var<storage, read_write> indices: array<i32>;
// weights: [nToken, nExpertUsed]
@group(0) @binding(7) var<storage, read_write> weights: array<f32>;

var<workgroup> s_score: array<f32, MAX_EXPERT>;
var<workgroup> s_red: array<f32, WG_SIZE>;

// Lowest finite f32: logits are finite (the facade reports non-finite input), so this is a safe start.
const LOWEST: f32 = -3.4028234663852886e38;
// The ends where f64 probabilities tie although the logits differ, so the CPU paths rank those experts by
// index: below z_max − 745.13 e^(z − z_max) underflows to 0, and above z_max − 2⁻⁵⁴ it rounds to 1, as
// z_max's own (logits all within ~1e-17 of each other: a router of near-zero weights or inputs).
const F64_EXP_UNDERFLOW: f32 = -745.13;
const F64_EXP_ONE: f32 = -5.551115123125783e-17;

fn reduce(lid: u32, is_max: bool) -> f32 {
  for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let a = s_red[lid];
      let b = s_red[lid + stride];
      s_red[lid] = select(a + b, max(a, b), is_max);
    }
    workgroupBarrier();
  }
  let r = s_red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG_SIZE)
fn router_topk(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let t = wg.x + wg.y * nwg.x;
  if (t >= params.n_token) {
    return;
  }
  let n_expert = params.n_expert;
  let d = params.d_model;

  var local_max = LOWEST;
  for (var e = lid; e < n_expert; e = e + WG_SIZE) {
    var z: f32;
    if (params.compute_logits != 0u) {
      var acc = 0.0;
      for (var i = 0u; i < d; i = i + 1u) {
        acc = fma(hidden[t * d + i], weight[e * d + i], acc);
      }
      if (params.has_bias != 0u) {
        acc = acc + bias[e];
      }
      logits[t * n_expert + e] = acc;
      z = acc;
    } else {
      z = logits[t * n_expert + e];
    }
    s_score[e] = z;
    local_max = max(local_max, z);
  }
  s_red[lid] = local_max;
  workgroupBarrier();
  let z_max = reduce(lid, true);

  var local_sum = 0.0;
  for (var e = lid; e < n_expert; e = e + WG_SIZE) {
    let p = exp(s_score[e] - z_max);
    s_score[e] = p;
    local_sum = local_sum + p;
  }
  s_red[lid] = local_sum;
  workgroupBarrier();
  let total = reduce(lid, false);

  for (var e = lid; e < n_expert; e = e + WG_SIZE) {
    let p = s_score[e] / total;
    s_score[e] = p;
    probs[t * n_expert + e] = p;
  }
  workgroupBarrier();
  // The logits other threads wrote (or the given ones) are read back from storage below.
  storageBarrier();

  if (lid == 0u) {
    let k = params.n_expert_used;
    var chosen_sum = 0.0;
    for (var j = 0u; j < k; j = j + 1u) {
      // Probs are ≥ 0, so −1 marks a taken expert; the strict > keeps the lower index on ties.
      var best_e = n_expert;
      var best_key = LOWEST;
      for (var e = 0u; e < n_expert; e = e + 1u) {
        if (s_score[e] >= 0.0) {
          let z = logits[t * n_expert + e];
          let x = z - z_max;
          let key = select(select(z, z_max, x >= F64_EXP_ONE), LOWEST, x < F64_EXP_UNDERFLOW);
          if (best_e == n_expert || key > best_key) {
            best_key = key;
            best_e = e;
          }
        }
      }
      let best = s_score[best_e];
      s_score[best_e] = -1.0;
      indices[t * k + j] = i32(best_e);
      weights[t * k + j] = best;
      chosen_sum = chosen_sum + best;
    }
    // Softmax weights renormalised over the chosen k (Mixtral/Qwen norm_topk_prob); 1e-20 as in the reference.
    let denom = select(1.0, chosen_sum + 1e-20, params.normalize != 0u);
    for (var j = 0u; j < k; j = j + 1u) {
      weights[t * k + j] = weights[t * k + j] / denom * params.scale;
    }
  }
}
