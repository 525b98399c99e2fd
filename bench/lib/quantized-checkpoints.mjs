// Checkpoint layers stored as the quantised releases store their experts, for the load suite: block-wise FP8
// (Qwen3-MoE's "-FP8" checkpoints: f8_e4m3 per expert projection beside 128 × 128 block scales) and GPT-OSS's
// MXFP4 (u8 blocks of e2m1 pairs, e8m0 scales). Their bytes are random — any byte but e4m3's NaN ones, scales
// that keep values near the f32 layer's — which is all a load's timing depends on.

/** Random e4m3 bytes, never the NaN pattern S.1111.111. */
function e4m3Bytes(random, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(random() * 256);
    out[i] = (b & 0x7f) === 0x7f ? b ^ 1 : b;
  }
  return out;
}

/** Qwen3-MoE layer [E experts, d, f] with FP8 expert projections and an f32 router. */
export function fp8Checkpoint(random, { nExpert: E, k, dModel: d, dFF: f }, router) {
  const tensors = { 'gate.weight': router };
  const scales = (rows, cols) => {
    const shape = [Math.ceil(rows / 128), Math.ceil(cols / 128)];
    const data = new Float32Array(shape[0] * shape[1]);
    for (let i = 0; i < data.length; i++) data[i] = (0.5 + random()) / (448 * Math.sqrt(cols));
    return { dtype: 'f32', shape, data };
  };
  for (let e = 0; e < E; e++) {
    for (const [name, rows, cols] of [['gate_proj', f, d], ['up_proj', f, d], ['down_proj', d, f]]) {
      tensors[`experts.${e}.${name}.weight`] = { dtype: 'f8_e4m3', shape: [rows, cols], data: e4m3Bytes(random, rows * cols) };
      tensors[`experts.${e}.${name}.weight_scale_inv`] = scales(rows, cols);
    }
  }
  const config = {
    model_type: 'qwen3_moe', hidden_size: d, moe_intermediate_size: f, num_experts: E, num_experts_per_tok: k, norm_topk_prob: true,
    quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] },
  };
  return { config, tensors };
}

/** GPT-OSS layer [E experts, d, f] (d, f multiples of 32) with MXFP4 expert projections. */
export function mxfp4Checkpoint(random, { nExpert: E, k, dModel: d, dFF: f }, router) {
  const bytes = (n, lo, span) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + Math.floor(random() * span);
    return out;
  };
  const zeros = (n) => new Float32Array(n);
  const tensors = {
    'router.weight': router, 'router.bias': zeros(E),
    'experts.gate_up_proj_blocks': { dtype: 'u8', shape: [E, 2 * f, d / 32, 16], data: bytes((E * 2 * f * d) / 2, 0, 256) },
    'experts.gate_up_proj_scales': { dtype: 'u8', shape: [E, 2 * f, d / 32], data: bytes((E * 2 * f * d) / 32, 119, 4) },
    'experts.gate_up_proj_bias': zeros(E * 2 * f),
    'experts.down_proj_blocks': { dtype: 'u8', shape: [E, d, f / 32, 16], data: bytes((E * d * f) / 2, 0, 256) },
    'experts.down_proj_scales': { dtype: 'u8', shape: [E, d, f / 32], data: bytes((E * d * f) / 32, 119, 4) },
    'experts.down_proj_bias': zeros(E * d),
  };
  const config = { model_type: 'gpt_oss', hidden_size: d, intermediate_size: f, num_local_experts: E, num_experts_per_tok: k, swiglu_limit: 7 };
  return { config, tensors };
}
