// Expert activations, applied to a tile's accumulators before they leave the registers (the epilogue of
// the micro-kernels in tile.ts). The math is ExpertWeights' definition (ts/backends/backend.ts), the
// oracle's ts/reference/activations.ts in f64:
//   gated   (panel = 4 gate + 4 up columns → 4 h):  swiglu silu(g)·u · geglu gelu(g)·u ·
//           swiglu-oai (clamp(u, ±limit) + 1) · g'σ(αg'), g' = min(g, limit)   (GPT-OSS)
//   ungated (panel = 8 up columns → 8 h):            gelu(u) · relu(u) · silu(u)
//   identity (the down projection): the 8 sums as they are.
// The activation is O(rows · dFF) against the GEMM's O(rows · dFF · dModel): lane-wise scalar exp is fine.

export const ACT_SWIGLU: i32 = 0;
export const ACT_GEGLU: i32 = 1;
export const ACT_SWIGLU_OAI: i32 = 2;
export const ACT_GELU: i32 = 3;
export const ACT_RELU: i32 = 4;
export const ACT_SILU: i32 = 5;
/** Not an expert activation: the down projection's epilogue. */
export const ACT_IDENTITY: i32 = 6;

/** Whether the panel holds gate and up columns (4 + 4) rather than 8 columns of one matrix. */
// @ts-ignore: decorator
@inline export function isGated(act: i32): bool {
  return act <= ACT_SWIGLU_OAI;
}

/**
 * erf by Abramowitz & Stegun 7.1.26 (Handbook of Mathematical Functions, 1964): |error| ≤ 1.5e-7 in exact
 * arithmetic, plus a few f32 roundings — under the 1e-6 the fast paths allow.
 */
function erf(x: f32): f32 {
  const a = Mathf.abs(x);
  const t: f32 = 1 / (1 + <f32>0.3275911 * a);
  const poly = t * (<f32>0.254829592 + t * (<f32>-0.284496736 + t * (<f32>1.421413741
    + t * (<f32>-1.453152027 + t * <f32>1.061405429))));
  const r: f32 = 1 - poly * Mathf.exp(-a * a);
  return x < 0 ? -r : r;
}

// @ts-ignore: decorator
@inline function silu(x: f32): f32 {
  return x / (1 + Mathf.exp(-x));
}

/** gelu(x) = x·Φ(x), the exact erf form (Hugging Face's "gelu"). */
// @ts-ignore: decorator
@inline function gelu(x: f32): f32 {
  return <f32>0.5 * x * (1 + erf(x * <f32>0.70710678118654752));
}

/** One hidden unit of a gated activation. */
// @ts-ignore: decorator
@inline function gatedScalar(act: i32, g: f32, u: f32, alpha: f32, limit: f32): f32 {
  if (act == ACT_SWIGLU) return silu(g) * u;
  if (act == ACT_GEGLU) return gelu(g) * u;
  const gc = Mathf.min(g, limit);
  const uc = Mathf.min(Mathf.max(u, -limit), limit);
  return (uc + 1) * gc / (1 + Mathf.exp(-alpha * gc));
}

/** One hidden unit of an ungated activation. */
// @ts-ignore: decorator
@inline function ungatedScalar(act: i32, u: f32): f32 {
  if (act == ACT_RELU) return Mathf.max(u, 0);
  if (act == ACT_SILU) return silu(u);
  return gelu(u);
}

/** h = act(g, u) per lane, for the gated activations. */
// @ts-ignore: decorator
@inline export function gatedVec(act: i32, g: v128, u: v128, alpha: f32, limit: f32): v128 {
  let h = f32x4.splat(gatedScalar(act, f32x4.extract_lane(g, 0), f32x4.extract_lane(u, 0), alpha, limit));
  h = f32x4.replace_lane(h, 1, gatedScalar(act, f32x4.extract_lane(g, 1), f32x4.extract_lane(u, 1), alpha, limit));
  h = f32x4.replace_lane(h, 2, gatedScalar(act, f32x4.extract_lane(g, 2), f32x4.extract_lane(u, 2), alpha, limit));
  h = f32x4.replace_lane(h, 3, gatedScalar(act, f32x4.extract_lane(g, 3), f32x4.extract_lane(u, 3), alpha, limit));
  return h;
}

/** h = act(u) per lane, for the ungated activations; relu stays in SIMD. */
// @ts-ignore: decorator
@inline export function ungatedVec(act: i32, u: v128): v128 {
  if (act == ACT_RELU) return f32x4.max(u, f32x4.splat(0));
  let h = f32x4.splat(ungatedScalar(act, f32x4.extract_lane(u, 0)));
  h = f32x4.replace_lane(h, 1, ungatedScalar(act, f32x4.extract_lane(u, 1)));
  h = f32x4.replace_lane(h, 2, ungatedScalar(act, f32x4.extract_lane(u, 2)));
  h = f32x4.replace_lane(h, 3, ungatedScalar(act, f32x4.extract_lane(u, 3)));
  return h;
}

/**
 * Stores one row of a tile: lo, hi are the 8 sums of a panel (gate | up, or 8 columns).
 * Gated: 4 floats to dst; ungated and identity: 8 floats.
 */
// @ts-ignore: decorator
@inline export function storeRow(act: i32, lo: v128, hi: v128, dst: usize, alpha: f32, limit: f32): void {
  if (act == ACT_IDENTITY) {
    v128.store(dst, lo);
    v128.store(dst, hi, 16);
  } else if (isGated(act)) {
    v128.store(dst, gatedVec(act, lo, hi, alpha, limit));
  } else {
    v128.store(dst, ungatedVec(act, lo));
    v128.store(dst, ungatedVec(act, hi), 16);
  }
}
