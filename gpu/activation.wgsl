// activation: not a kernel but a fragment, substituted for the ACTIVATION token of expert_ffn_up and
// expert_matvec. h(g, u) is the expert function of ExpertWeights (ts/backends/backend.ts), with g the gate
// and u the up pre-activation (biases already added); the oracle is ts/reference/activations.ts.
// ACTIVATION is an override constant: each pipeline is compiled for one activation, so the switch below
// folds to one branch and no thread branches per element on a runtime value.
//   0 swiglu      silu(g) · u
//   1 geglu       gelu(g) · u
//   2 swiglu-oai  (clamp(u, ±limit) + 1) · g' · σ(α g'), g' = min(g, limit)   (GPT-OSS)
//   3 gelu        gelu(u)
//   4 relu        max(u, 0)
//   5 silu        silu(u)
//   6 identity    u          (expert_matvec's down step: no activation)
// gelu is the exact erf form; WGSL has no erf, so erf_approx below stands in for it.

override ACTIVATION: u32 = 0u;
// Whether h reads g: the kernels skip the gate projection entirely when it does not.
override GATED: bool = ACTIVATION <= 2u;

// Whether x is NaN, read from its bits: WGSL lets a compiler assume floats are never NaN, so x != x may
// fold to false. min, max and clamp return the other operand for a NaN one, and relu or swiglu-oai's clamp
// would then turn an overflowed sum (∞ − ∞) into a finite h — which the host must see to refuse it.
fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// silu(a) = a · σ(a); for very negative a, exp(−a) → inf and the quotient → −0, which is the limit.
fn silu_f32(a: f32) -> f32 {
  return a / (1.0 + exp(-a));
}

// erf by Abramowitz & Stegun, Handbook of Mathematical Functions, 7.1.26:
//   erf(a) ≈ 1 − (a1 t + a2 t² + a3 t³ + a4 t⁴ + a5 t⁵) e^(−a²), t = 1 / (1 + p a), a ≥ 0,
// whose own error is ≤ 1.5e-7 for every a; in f32 the sum adds a few ulp of 1, so |error| ≤ 1e-6
// overall (test/node/webgpu-experts.test.ts measures it through the block). Odd symmetry for a < 0.
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, x < 0.0);
}

// gelu(a) = a · Φ(a) = ½ a (1 + erf(a / √2)).
fn gelu_f32(a: f32) -> f32 {
  return 0.5 * a * (1.0 + erf_approx(a * 0.7071067811865476));
}

fn activate(g: f32, u: f32, alpha: f32, limit: f32) -> f32 {
  switch ACTIVATION {
    case 0u: {
      return silu_f32(g) * u;
    }
    case 1u: {
      return gelu_f32(g) * u;
    }
    case 2u: {
      let gc = select(min(g, limit), g, is_nan(g));
      let uc = select(clamp(u, -limit, limit), u, is_nan(u));
      return (uc + 1.0) * gc / (1.0 + exp(-alpha * gc));
    }
    case 3u: {
      return gelu_f32(u);
    }
    case 4u: {
      return select(max(u, 0.0), u, is_nan(u));
    }
    case 5u: {
      return silu_f32(u);
    }
    default: {
      return u;
    }
  }
}
