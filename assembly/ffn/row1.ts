// The single-row micro-kernels (decode, and the odd row of an expert with 4n + 1 rows): one row of
// activations times pre-packed weight panels (layout.ts) of storage type W, started from a bias, sums left
// in ACC as tile.ts's kernels leave them (the same helpers, the same per-column order of madds).
//   row1x32<W>: one row × four panels at once — four weight streams in flight read DRAM ~1.5× faster
//               than one (measured: 15.6 vs 10.3 GB/s over a 92 MB working set). ACC = panels 0..3 ×
//               (cols 0..3, 4..7). f16 panels come interleaved in their group of four (weights.ts): one
//               stream, each step's halves split by highHalfBits into even and odd columns.
//   row1x8<W>:  one row × one panel (the last nPanel % 4), K unrolled by 4 over four accumulator pairs so
//               consecutive madds do not wait on each other. ACC = (cols 0..3, 4..7).
import { madd } from '../simd';
import { ACC, biasEven, biasLo, biasOdd, Folded, storeAccumulators, Unfolded, unzipAccumulators, wHi, wHigh, wLo } from './tile';
import { highHalfMask, stepBytes } from './weights';

// @ts-ignore: decorator
@inline function row1x32Of<W, F>(x: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  let c0 = biasLo(bias, 0), e0 = biasLo(bias, 16);
  let c1 = biasLo(bias, 32), e1 = biasLo(bias, 48);
  let c2 = biasLo(bias, 64), e2 = biasLo(bias, 80);
  let c3 = biasLo(bias, 96), e3 = biasLo(bias, 112);
  // One pointer, the other panels at offsets from it, and two steps of K per pass (K % 4 == 0): per step,
  // half the loop's counting and no three extra pointer increments. Each accumulator still sums k in
  // order, so the results are those of one step per pass. Measured on panels in L2 (f32, K 1024): 8.9 ->
  // 19.9 G weights/s; from DRAM 6.7 -> 7.2.
  let p = panel;
  const o1 = panelBytes;
  const o2 = panelBytes << 1;
  const o3 = o1 + o2;
  const step = stepBytes<W>();
  const end = x + (<usize>K << 2);
  while (x < end) {
    let xv = v128.load32_splat(x);
    c0 = madd(xv, wLo<W, F>(p), c0); e0 = madd(xv, wHi<W, F>(p), e0);
    c1 = madd(xv, wLo<W, F>(p + o1), c1); e1 = madd(xv, wHi<W, F>(p + o1), e1);
    c2 = madd(xv, wLo<W, F>(p + o2), c2); e2 = madd(xv, wHi<W, F>(p + o2), e2);
    c3 = madd(xv, wLo<W, F>(p + o3), c3); e3 = madd(xv, wHi<W, F>(p + o3), e3);
    xv = v128.load32_splat(x, 4);
    p += step;
    c0 = madd(xv, wLo<W, F>(p), c0); e0 = madd(xv, wHi<W, F>(p), e0);
    c1 = madd(xv, wLo<W, F>(p + o1), c1); e1 = madd(xv, wHi<W, F>(p + o1), e1);
    c2 = madd(xv, wLo<W, F>(p + o2), c2); e2 = madd(xv, wHi<W, F>(p + o2), e2);
    c3 = madd(xv, wLo<W, F>(p + o3), c3); e3 = madd(xv, wHi<W, F>(p + o3), e3);
    p += step;
    x += 8;
  }
  storeAccumulators(c0, e0, c1, e1, c2, e2, c3, e3);
}

// row1x32 of f16: a group of four interleaved panels (weights.ts), [K][4][8] halves. Each step of a panel is
// two 16-byte loads, 2 bytes apart, whose lanes' high halves are its even and odd columns (highHalfBits):
// 2 integer operations per 4 weights instead of a widening load, a shift and a mask, and one stream. The
// accumulators hold even and odd columns, each summing k in order from its bias as row1x32Of does (the same
// products: bit-identical); ACC is put back in column order at the end.
// @ts-ignore: decorator
@inline function row1x32HalfOf<F>(x: usize, group: usize, K: i32, bias: usize): void {
  let c0 = biasEven(bias, 0), e0 = biasOdd(bias, 0);
  let c1 = biasEven(bias, 32), e1 = biasOdd(bias, 32);
  let c2 = biasEven(bias, 64), e2 = biasOdd(bias, 64);
  let c3 = biasEven(bias, 96), e3 = biasOdd(bias, 96);
  // 2 bytes before the step: the load for the even columns starts there (its low halves are masked off).
  let q = group - 2;
  const m = highHalfMask();
  const end = x + (<usize>K << 2);
  while (x < end) {
    let xv = v128.load32_splat(x);
    c0 = madd(xv, wHigh<F>(v128.load(q), m), c0); e0 = madd(xv, wHigh<F>(v128.load(q, 2), m), e0);
    c1 = madd(xv, wHigh<F>(v128.load(q, 16), m), c1); e1 = madd(xv, wHigh<F>(v128.load(q, 18), m), e1);
    c2 = madd(xv, wHigh<F>(v128.load(q, 32), m), c2); e2 = madd(xv, wHigh<F>(v128.load(q, 34), m), e2);
    c3 = madd(xv, wHigh<F>(v128.load(q, 48), m), c3); e3 = madd(xv, wHigh<F>(v128.load(q, 50), m), e3);
    xv = v128.load32_splat(x, 4);
    c0 = madd(xv, wHigh<F>(v128.load(q, 64), m), c0); e0 = madd(xv, wHigh<F>(v128.load(q, 66), m), e0);
    c1 = madd(xv, wHigh<F>(v128.load(q, 80), m), c1); e1 = madd(xv, wHigh<F>(v128.load(q, 82), m), e1);
    c2 = madd(xv, wHigh<F>(v128.load(q, 96), m), c2); e2 = madd(xv, wHigh<F>(v128.load(q, 98), m), e2);
    c3 = madd(xv, wHigh<F>(v128.load(q, 112), m), c3); e3 = madd(xv, wHigh<F>(v128.load(q, 114), m), e3);
    q += 128;
    x += 8;
  }
  // Stored as they are, then reordered from memory: shuffling the accumulators here made V8 schedule every
  // load of the loop ahead of the arithmetic and spill four accumulators (a store and a reload per pass).
  storeAccumulators(c0, e0, c1, e1, c2, e2, c3, e3);
  unzipAccumulators();
}

/**
 * @param x          [K] one row
 * @param panel      the first of four consecutive panels, panelBytes apart (f16: their interleaved group,
 *                   panelBytes unused)
 * @param bias       [4][8], or 0
 */
export function row1x32<W>(x: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  if (sizeof<W>() == 2) row1x32HalfOf<Unfolded>(x, panel, K, bias);
  else row1x32Of<W, Unfolded>(x, panel, panelBytes, K, bias);
}

/** row1x32 of f16 panels on a row scaled by foldScale. */
export function row1x32Folded(x: usize, panel: usize, panelBytes: usize, K: i32, bias: usize): void {
  row1x32HalfOf<Folded>(x, panel, K, bias);
}

// @ts-ignore: decorator
@inline function row1x8Of<W, F>(x: usize, panel: usize, K: i32, bias: usize): void {
  let c0 = biasLo(bias, 0), e0 = biasLo(bias, 16);
  let c1 = f32x4.splat(0), e1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), e2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), e3 = f32x4.splat(0);
  let p = panel;
  const end = x + (<usize>K << 2);
  const step = stepBytes<W>();
  while (x < end) {
    const x0 = v128.load32_splat(x);
    const x1 = v128.load32_splat(x, 4);
    const x2 = v128.load32_splat(x, 8);
    const x3 = v128.load32_splat(x, 12);
    c0 = madd(x0, wLo<W, F>(p), c0); e0 = madd(x0, wHi<W, F>(p), e0);
    c1 = madd(x1, wLo<W, F>(p + step), c1); e1 = madd(x1, wHi<W, F>(p + step), e1);
    c2 = madd(x2, wLo<W, F>(p + 2 * step), c2); e2 = madd(x2, wHi<W, F>(p + 2 * step), e2);
    c3 = madd(x3, wLo<W, F>(p + 3 * step), c3); e3 = madd(x3, wHi<W, F>(p + 3 * step), e3);
    x += 16;
    p += 4 * step;
  }
  v128.store(ACC, f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)));
  v128.store(ACC, f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3)), 16);
}

/** x [K] × one panel [K][8] (+ bias [8]); K % 4 == 0. */
export function row1x8<W>(x: usize, panel: usize, K: i32, bias: usize): void {
  row1x8Of<W, Unfolded>(x, panel, K, bias);
}

/** row1x8 of f16 panels on a row scaled by foldScale. */
export function row1x8Folded(x: usize, panel: usize, K: i32, bias: usize): void {
  row1x8Of<u16, Folded>(x, panel, K, bias);
}
