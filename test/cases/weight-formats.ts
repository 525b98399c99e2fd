// The reduced weight formats as a test oracle sees them, written from their definitions and independent of
// the library's converters (ts/formats/dtype.ts, ts/formats/q8.ts, the packers of both paths):
//   f16:  nearest binary16 value, ties to even; subnormals below 2⁻¹⁴; beyond 65520 (the tie) infinite;
//   int8: each row of a [rows, cols] matrix (row = output unit, contiguous inputs) in blocks of 32 inputs,
//         scale = f16(f32(amax / 127)), q = w / scale rounded half away from zero, clamped to ±127; kernels compute with q · scale.

/** v rounded to the nearest integer, ties to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/** x rounded to binary16 (as a double). */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  // Subnormals share the smallest normal exponent's spacing: 2⁻²⁴.
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const r = roundHalfEven(a / ulp) * ulp;
  return Math.sign(x) * (r > 65504 ? Infinity : r);
}

/** Every element rounded to binary16. */
export function f16RoundTrip(m: Float32Array): Float32Array {
  return Float32Array.from(m, roundF16);
}

/** The matrix [rows, cols] with every weight replaced by its int8 value q · scale. */
export function int8RoundTrip(m: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let r = 0; r < m.length / cols; r++) {
    for (let b = 0; b < cols; b += 32) {
      const end = Math.min(b + 32, cols);
      let amax = 0;
      for (let i = b; i < end; i++) amax = Math.max(amax, Math.abs(m[r * cols + i]));
      const scale = roundF16(Math.fround(amax / 127));
      for (let i = b; i < end; i++) {
        const v = scale > 0 ? m[r * cols + i] / scale : 0;
        const q = Math.max(-127, Math.min(127, Math.sign(v) * Math.round(Math.abs(v))));
        out[r * cols + i] = q * scale;
      }
    }
  }
  return out;
}
