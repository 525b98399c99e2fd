// Benchmark-only WASM entry (AssemblyScript): reads n bytes from p, 64 at a time, for bench/lib/bandwidth.mjs.
// The sum is returned so the engine cannot drop the loads; four accumulators keep the adds off the critical
// path, so the loop runs at the speed of memory, not of one add chain.
export function stream(p: usize, n: usize): f32 {
  let a = f32x4.splat(0);
  let b = f32x4.splat(0);
  let c = f32x4.splat(0);
  let d = f32x4.splat(0);
  const end = p + n;
  for (let q = p; q < end; q += 64) {
    a = f32x4.add(a, v128.load(q));
    b = f32x4.add(b, v128.load(q, 16));
    c = f32x4.add(c, v128.load(q, 32));
    d = f32x4.add(d, v128.load(q, 48));
  }
  const s = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

export { heapBase } from '../../assembly/memory';
