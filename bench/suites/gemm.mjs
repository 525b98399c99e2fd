// GEMM at MoE expert shapes: C[M, N] = A[M, K] · Bᵀ (f32), M ∈ {1, 8, 64, 512}, K×N ∈ {1024×512, 2048×1408}.
// switchyard rows:
//   bare GEMM  — the expert FFN's own down-projection micro-kernel (f32-down-4x8 / -1x8 tail) exported by a
//                benchmark-only entry (bench/wasm/gemm.ts); both WASM builds when the engine has relaxed SIMD.
//                This is the honest GEMM number: the same kernel, the same packed layout, no extra work.
//   expert FFN — WasmBackend.runExperts on a one-expert plan of M rows: SwiGLU = gate and up (K → N) fused
//                with the activation, then down (N → K), plus the combine: 6·M·K·N FLOPs. What a MoE call
//                actually runs; compared with the peers by GFLOP/s, not by time. On 1 thread, and on 2
//                (options.threads: the rows split between the main thread and a worker; output checked
//                bit-equal to 1 thread before timing).
// Peers: onnxruntime-node MatMul (native, 1 thread), tfjs-backend-wasm matMul (1 thread), onnxruntime-web
// wasm MatMul (1 and 2 threads, in worker threads). Every output is checked against an f64 dot product on
// three rows before it is timed. Per case, ours and the one-thread peers run in alternating rounds
// (measureInterleaved); onnxruntime-web times its own calls inside its worker.
import { loadBareGemm, prepareBareGemm } from '../lib/wasm-gemm.mjs';
import { measureInterleaved } from '../lib/measure.mjs';
import { withSpeedup } from '../lib/speedup.mjs';
import { loadTfjsWasm, openOrtWebMatMul, ortNodeMatMul } from '../lib/peers.mjs';

const MS = [1, 8, 64, 512];
const SHAPES = [{ K: 1024, N: 512 }, { K: 2048, N: 1408 }];
/** Rows at or below this M are bound by reading the weights: report GB/s for them. */
const MEMORY_BOUND_M = 8;
/** f32 dot products of length ≤ 2048 against f64: ~1e-6 of the row's scale; 1e-4 only flags wrong math. */
const CHECK_TOLERANCE = 1e-4;

function transpose(b, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = b[r * cols + c];
  return t;
}

/** Max |c − ref| / max |ref| over rows 0, 1 and M−1 of C = A · Bᵀ (f64 reference). */
function checkRows(c, a, b, M, K, N) {
  let err = 0;
  let scale = 0;
  for (const m of new Set([0, Math.min(1, M - 1), M - 1])) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let i = 0; i < K; i++) s += a[m * K + i] * b[n * K + i];
      err = Math.max(err, Math.abs(c[m * N + n] - s));
      scale = Math.max(scale, Math.abs(s));
    }
  }
  return err / scale;
}

/** onnxruntime-web MatMul on `threads` threads, its output checked for every input. */
async function ortWebPeer(threads, K, N, w, inputs, checked) {
  const peer = await openOrtWebMatMul(threads, K, N, w);
  try {
    for (const { M, a } of inputs) checked(`onnxruntime-web ${threads}t`, M, await peer.run(a, M), a);
  } catch (e) {
    await peer.close();
    throw e;
  }
  return peer;
}

export async function gemmSuite(ctx) {
  const { internals, budget, quick, add, skip } = ctx;
  const { rng, normal, createWasmBackend, nodeThreadProvider } = internals;
  const builds = [];
  for (const file of [ctx.gemmWasm['relaxed-simd'], ctx.gemmWasm.simd128]) {
    const g = await loadBareGemm(file);
    if (g) builds.push(g);
  }
  const wasmBackend = await createWasmBackend(ctx.switchyardWasm.module);
  const { threadsModule } = ctx.switchyardWasm;
  const wasm2 = await createWasmBackend(threadsModule, { provider: nodeThreadProvider(async () => threadsModule), threads: 2 });
  const ms = quick ? [1, 64, 512] : MS;
  for (const { K, N } of SHAPES) {
    const random = rng(0x9e11 + K);
    const b = normal(random, N * K, 1 / Math.sqrt(K)); // [N, K]
    const down = normal(random, K * N, 1 / Math.sqrt(N)); // [K, N], the FFN's down projection
    const w = transpose(b, N, K); // [K, N] for MatMul
    const inputs = ms.map((M) => ({ M, a: normal(random, M * K) }));
    const caseName = (M) => `M${M} K${K} N${N}`;
    const work = (M, ffn = false) => ({
      flops: (ffn ? 6 : 2) * M * K * N,
      bytes: 4 * ((ffn ? 3 : 1) * K * N + M * K + M * N),
      primary: M <= MEMORY_BOUND_M ? 'bytes' : 'flops',
    });
    const checked = (label, M, c, a) => {
      const e = checkRows(c, a, b, M, K, N);
      if (!(e <= CHECK_TOLERANCE)) throw new Error(`${label} ${caseName(M)}: relative error ${e} against the f64 reference`);
    };

    // Every variant that runs on one thread, ours and the peers', is timed in one interleaved group per M
    // (bench/lib/measure.mjs), so their ratios compare the same moments of this machine; the 2-thread
    // peer after them on its own, since its pool's threads spin on after each call.
    const timed = inputs.map(() => []);
    const closers = [];
    for (const g of builds) {
      const bare = prepareBareGemm(g, b, N, K, Math.max(...ms));
      inputs.forEach(({ M, a }, i) => {
        checked(`switchyard bare GEMM ${g.variant}`, M, bare.run(a, M), a);
        timed[i].push({ row: { runtime: 'switchyard', backend: 'wasm', variant: `gemm f32-down-4x8 ${g.variant} 1t`, ours: true, work: work(M) }, fn: () => bare.run(a, M) });
      });
    }

    const expertWeights = { nExpert: 1, dModel: K, dFF: N, gate: b, up: b, down };
    const experts = wasmBackend.prepareExperts(expertWeights);
    const experts2 = wasm2.prepareExperts(expertWeights);
    closers.push(() => experts.destroy(), () => experts2.destroy());
    const threads2 = await wasm2.threadsReady();
    inputs.forEach(({ M, a }, i) => {
      const rows = Int32Array.from({ length: M }, (_, r) => r);
      const plan = { offsets: Int32Array.of(0, M), rows, weights: new Float32Array(M).fill(1), slots: rows };
      const one = wasmBackend.runExperts(experts, a, M, plan);
      const two = wasm2.runExperts(experts2, a, M, plan);
      timed[i].push({
        row: { runtime: 'switchyard', backend: 'wasm', variant: `expert FFN ${wasmBackend.variant} 1t`, ours: true, work: work(M, true), note: 'SwiGLU, 3 GEMMs (6·M·K·N)' },
        fn: () => wasmBackend.runExperts(experts, a, M, plan),
      });
      if (threads2 !== 2 || !new Uint32Array(one.buffer).every((x, j) => x === new Uint32Array(two.buffer)[j])) {
        skip(`expert FFN 2t ${caseName(M)}`, new Error(threads2 !== 2 ? `workers did not start (${wasm2.threadsNote})` : 'output differs from 1 thread'));
        return;
      }
      timed[i].push({
        row: { runtime: 'switchyard', backend: 'wasm', variant: `expert FFN ${wasm2.variant} 2t`, ours: true, work: work(M, true), note: 'options.threads 2' },
        fn: () => wasm2.runExperts(experts2, a, M, plan),
      });
    });

    try {
      const ort = await ortNodeMatMul(K, N, w);
      closers.push(() => ort.release());
      for (const [i, { M, a }] of inputs.entries()) {
        checked('onnxruntime-node', M, await ort.run(a, M), a);
        timed[i].push({ row: { runtime: 'onnxruntime-node', backend: 'cpu (native)', variant: 'MatMul 1t', ours: false, work: work(M) }, fn: () => ort.run(a, M) });
      }
    } catch (e) {
      skip('onnxruntime-node MatMul', e);
    }

    try {
      const tf = await loadTfjsWasm();
      const wt = tf.tensor2d(w, [K, N]);
      closers.push(() => wt.dispose());
      for (const [i, { M, a }] of inputs.entries()) {
        const run = () => {
          const c = tf.tidy(() => tf.matMul(tf.tensor2d(a, [M, K]), wt));
          const out = c.dataSync();
          c.dispose();
          return out;
        };
        checked('tfjs-backend-wasm', M, run(), a);
        timed[i].push({ row: { runtime: 'tfjs', backend: 'wasm', variant: 'matMul 1t', ours: false, work: work(M) }, fn: run });
      }
    } catch (e) {
      skip('tfjs-backend-wasm matMul', e);
    }

    const ortWebRow = (threads, M) => ({ runtime: 'onnxruntime-web', backend: 'wasm', variant: `MatMul ${threads}t`, ours: false, work: work(M) });
    try {
      const web1 = await ortWebPeer(1, K, N, w, inputs, checked);
      closers.push(() => web1.close());
      inputs.forEach(({ M }, i) => timed[i].push({ row: ortWebRow(1, M), fn: { round: (ms, min) => web1.round(M, ms, min) } }));
    } catch (e) {
      skip('onnxruntime-web MatMul 1 thread', e);
    }

    for (const [i, { M }] of inputs.entries()) {
      const stats = await measureInterleaved(timed[i].map((t) => t.fn), budget);
      const oneThread = timed[i].findIndex((t) => t.row.variant.startsWith('expert FFN') && t.row.variant.endsWith(' 1t'));
      timed[i].forEach((t, j) => {
        const row = { case: caseName(M), ...t.row, ...stats[j] };
        if (oneThread >= 0 && t.row.variant.startsWith('expert FFN') && t.row.variant.endsWith(' 2t')) withSpeedup(row, stats[oneThread]);
        add(row);
      });
    }
    for (const close of closers) await close();

    try {
      const web2 = await ortWebPeer(2, K, N, w, inputs, checked);
      for (const { M } of inputs) {
        add({ case: caseName(M), ...ortWebRow(2, M), ...(await measureInterleaved([{ round: (ms, min) => web2.round(M, ms, min) }], budget))[0] });
      }
      await web2.close();
    } catch (e) {
      skip('onnxruntime-web MatMul 2 threads', e);
    }
  }
}
