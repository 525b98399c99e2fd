// Expert activations, applied to a tile's accumulators before they leave the registers (the epilogue of
// the micro-kernels in tile.ts). The math is ExpertWeights' definition (ts/backends/backend.ts), the
// oracle's ts/reference/activations.ts in f64:
//   gated   (panel = 4 gate + 4 up columns → 4 h):  swiglu silu(g)·u · geglu gelu(g)·u ·
//           swiglu-oai (clamp(u, ±limit) + 1) · g'σ(αg'), g' = min(g, limit)   (GPT-OSS)
//   ungated (panel = 8 up columns → 8 h):            gelu(u) · relu(u) · silu(u)
//   identity (the down projection): the 8 sums as they are.

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

// Everything below runs on four lanes at once: exp by range reduction (x = n·ln2 + r, |r| ≤ ln2/2) and
// a degree-6 Taylor polynomial for e^r (truncation r⁷/7! ≤ 1.2e-7 relative), scaled by 2ⁿ built in the
// exponent bits. Inputs are clamped to [−87.3, 88.3] so 2ⁿ stays a normal f32; at the low end σ and erf
// have long since saturated. Above 88.3 the result is +∞ (as e^x overflows f32 from 88.72 on): x·σ(x)
// = x / (1 + e^(−x)) must go to 0 for x far below −88, not to x / 2.2e38, which for |x| ~ 1e36 is not small.

// @ts-ignore: decorator
@inline function expVec(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  // ln 2 split in two (Cody–Waite) so r = x − n·ln2 keeps its low bits for |n| up to 127.
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693145751953125)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(1.428606765330187e-6)));
  let p = f32x4.add(f32x4.mul(r, f32x4.splat(<f32>(1.0 / 720))), f32x4.splat(<f32>(1.0 / 120)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 24)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 6)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.bitselect(f32x4.splat(Infinity), f32x4.mul(p, scale), f32x4.gt(x, f32x4.splat(88.3)));
}

/** x · σ(βx) = x / (1 + e^(−βx)). */
// @ts-ignore: decorator
@inline function xSigmoid(x: v128, beta: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1), expVec(f32x4.neg(f32x4.mul(beta, x)))));
}

/**
 * erf by Abramowitz & Stegun 7.1.26 (Handbook of Mathematical Functions, 1964): |error| ≤ 1.5e-7 in exact
 * arithmetic, plus a few f32 roundings — under the 1e-6 the fast paths allow. Odd: the sign is x's.
 */
// @ts-ignore: decorator
@inline function erfVec(x: v128): v128 {
  const a = f32x4.abs(x);
  const t = f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), f32x4.mul(f32x4.splat(0.3275911), a)));
  let p = f32x4.add(f32x4.mul(t, f32x4.splat(1.061405429)), f32x4.splat(-1.453152027));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(1.421413741));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(-0.284496736));
  p = f32x4.add(f32x4.mul(p, t), f32x4.splat(0.254829592));
  p = f32x4.mul(p, t);
  const r = f32x4.sub(f32x4.splat(1), f32x4.mul(p, expVec(f32x4.neg(f32x4.mul(a, a)))));
  return v128.or(r, v128.and(x, i32x4.splat(0x80000000)));
}

/** gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2)), the exact erf form (Hugging Face's "gelu"). */
// @ts-ignore: decorator
@inline function geluVec(x: v128): v128 {
  const e = erfVec(f32x4.mul(x, f32x4.splat(0.70710678118654752)));
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), e));
}

/** h = act(g, u) per lane, for the gated activations. */
// @ts-ignore: decorator
@inline export function gatedVec(act: i32, g: v128, u: v128, alpha: f32, limit: f32): v128 {
  if (act == ACT_SWIGLU) return f32x4.mul(xSigmoid(g, f32x4.splat(1)), u);
  if (act == ACT_GEGLU) return f32x4.mul(geluVec(g), u);
  // swiglu-oai (GPT-OSS): (clamp(u, ±limit) + 1) · g'σ(αg'), g' = min(g, limit).
  const lim = f32x4.splat(limit);
  const gc = f32x4.min(g, lim);
  const uc = f32x4.min(f32x4.max(u, f32x4.neg(lim)), lim);
  return f32x4.mul(f32x4.add(uc, f32x4.splat(1)), xSigmoid(gc, f32x4.splat(alpha)));
}

/** h = act(u) per lane, for the ungated activations. */
// @ts-ignore: decorator
@inline export function ungatedVec(act: i32, u: v128): v128 {
  if (act == ACT_RELU) return f32x4.max(u, f32x4.splat(0));
  if (act == ACT_SILU) return xSigmoid(u, f32x4.splat(1));
  return geluVec(u);
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
