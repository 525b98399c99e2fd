// Router logits: logits[t, e] = hidden[t] · weight[e] + bias[e].
// SIMD over dModel with f32 accumulation; four experts share each load of the token's hidden row.
import { madd, hsum } from '../simd';

/** Dot product of two rows of length n (SIMD body, scalar tail). */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    acc = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), acc);
  }
  let tail: f32 = 0;
  for (; i < n; i++) tail += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return hsum(acc) + tail;
}

/**
 * @param hidden [nToken, dModel]
 * @param weight [nExpert, dModel]
 * @param bias   [nExpert], or 0 for none
 * @param out    [nToken, nExpert]
 */
export function routerLogits(
  hidden: usize, weight: usize, bias: usize, out: usize, nToken: i32, dModel: i32, nExpert: i32,
): void {
  const rowBytes = <usize>dModel << 2;
  const d4 = dModel & ~3;
  for (let t = 0; t < nToken; t++) {
    const x = hidden + <usize>t * rowBytes;
    const o = out + (<usize>t * <usize>nExpert << 2);
    let e = 0;
    for (; e + 4 <= nExpert; e += 4) {
      const w0 = weight + <usize>e * rowBytes;
      const w1 = w0 + rowBytes;
      const w2 = w1 + rowBytes;
      const w3 = w2 + rowBytes;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let i = 0;
      for (; i < d4; i += 4) {
        const off = <usize>i << 2;
        const xv = v128.load(x + off);
        a0 = madd(xv, v128.load(w0 + off), a0);
        a1 = madd(xv, v128.load(w1 + off), a1);
        a2 = madd(xv, v128.load(w2 + off), a2);
        a3 = madd(xv, v128.load(w3 + off), a3);
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (; i < dModel; i++) {
        const off = <usize>i << 2;
        const xs = load<f32>(x + off);
        s0 += xs * load<f32>(w0 + off);
        s1 += xs * load<f32>(w1 + off);
        s2 += xs * load<f32>(w2 + off);
        s3 += xs * load<f32>(w3 + off);
      }
      if (bias != 0) {
        const b = bias + (<usize>e << 2);
        s0 += load<f32>(b);
        s1 += load<f32>(b, 4);
        s2 += load<f32>(b, 8);
        s3 += load<f32>(b, 12);
      }
      const oe = o + (<usize>e << 2);
      store<f32>(oe, s0);
      store<f32>(oe, s1, 4);
      store<f32>(oe, s2, 8);
      store<f32>(oe, s3, 12);
    }
    for (; e < nExpert; e++) {
      let s = dot(x, weight + <usize>e * rowBytes, dModel);
      if (bias != 0) s += load<f32>(bias + (<usize>e << 2));
      store<f32>(o + (<usize>e << 2), s);
    }
  }
}
