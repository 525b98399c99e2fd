// The MoE block: switchyard createMoE (wasm; reference at small T) against onnxruntime-node's native
// com.microsoft.MoE op on one thread, same weights, same routing math (see lib/ort-moe.mjs).
// Blocks: E32/k4/d1024/f512 and E8/k2/d2048/f1408, softmax top-k renormalised, SwiGLU; T ∈ {1, 16, 64, 128, 512},
// and decode with its weights from DRAM ("T1 cold", COLD_INPUTS).
// switchyard wasm runs on 1 thread and on 2 (options.threads), the 2-thread output checked bit-equal first.
// Before timing, ORT's and switchyard-wasm's outputs are checked against switchyard's reference at T = 16.
import { measure, measureInterleaved } from '../lib/measure.mjs';
import { withSpeedup } from '../lib/speedup.mjs';
import { ortNodeMoE } from '../lib/ort-moe.mjs';
import { uniform } from '../lib/weights.mjs';

const BLOCKS = [
  { name: 'E32/k4/d1024/f512', nExpert: 32, k: 4, dModel: 1024, dFF: 512 },
  { name: 'E8/k2/d2048/f1408', nExpert: 8, k: 2, dModel: 2048, dFF: 1408 },
];
const TOKENS = [1, 16, 64, 128, 512];
/**
 * Decode as a model runs it: one token per call, a different one each time, so each call's experts are
 * mostly not the last call's and their weights come from DRAM. "T1" repeats one token, whose k experts
 * (E32/k4: 25 MB of f32) then stay largely in the 32 MB L3 between calls. "T1 cold" takes COLD_INPUTS
 * tokens in turn (E32/k4: 64 picks, ~28 of the 32 experts, ~175 MB), every variant the same sequence.
 */
const COLD_INPUTS = 16;
/** The reference is plain TypeScript: only the small batches, or a full run takes minutes. */
const REFERENCE_MAX_T = 16;
const CHECK_T = 16;
/** Forwards on the 2-thread block before it is checked and timed: long enough for its worker to start on a busy machine. */
const WARM_THREADS_MS = 300;
/**
 * Output error relative to the reference's norm. Both sides sum f32 products in different orders over
 * d ≤ 2048 terms (~1e-6) and ORT's exp may differ in the last bits; 1e-4 is loose enough for that and
 * tight enough that a different activation or routing (errors of 10–100%) cannot pass.
 */
const AGREEMENT = 1e-4;

function relativeError(out, ref) {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    err += (out[i] - ref[i]) ** 2;
    norm += ref[i] ** 2;
  }
  return Math.sqrt(err / norm);
}


export async function moeSuite(ctx) {
  const { internals, dist, budget, quick, add, skip } = ctx;
  const tokens = quick ? [1, 16, 64, 512] : TOKENS;
  for (const block of BLOCKS) {
    const { name, nExpert, k, dModel, dFF } = block;
    const random = internals.rng(0x5eed + nExpert);
    const w = {
      router: uniform(random, nExpert * dModel, 1 / Math.sqrt(dModel)),
      gate: uniform(random, nExpert * dFF * dModel, 1 / Math.sqrt(dModel)),
      up: uniform(random, nExpert * dFF * dModel, 1 / Math.sqrt(dModel)),
      down: uniform(random, nExpert * dModel * dFF, 1 / Math.sqrt(dFF)),
    };
    const config = { dModel, router: { kind: 'topk', numExperts: nExpert, topK: k, normalize: true }, expert: { dFF, activation: 'swiglu' } };
    const weights = { 'router.weight': w.router, 'experts.gate': w.gate, 'experts.up': w.up, 'experts.down': w.down };
    const hidden = new Map([...new Set([...tokens, CHECK_T])].map((T) => [T, uniform(random, T * dModel, 1)])); // T → [T, d]
    const coldInputs = Array.from({ length: COLD_INPUTS }, () => uniform(random, dModel, 1));
    const caseName = (T, cold) => `${name} T${T}${cold ? ' cold' : ''}`;
    // Expert FLOPs of a forward (k SwiGLU experts per token) plus the router; bytes: the expert weights it must read at least once.
    const work = (T) => ({
      tokens: T,
      flops: T * (k * 6 * dModel * dFF + 2 * dModel * nExpert),
      bytes: 4 * Math.min(nExpert, T * k) * 3 * dModel * dFF,
    });

    const reference = await dist.createMoE(config, weights, { backend: 'reference' });
    const expected = (await reference.forward(hidden.get(CHECK_T), { tokens: CHECK_T })).output;
    const wasm = await dist.createMoE(config, weights, { backend: 'wasm' });
    const wasmOut = (await wasm.forward(hidden.get(CHECK_T), { tokens: CHECK_T })).output;
    const wasmError = relativeError(wasmOut, expected);
    if (!(wasmError <= AGREEMENT)) throw new Error(`switchyard wasm disagrees with the reference on ${name}: relative error ${wasmError}`);
    // options.threads 2: the same block on the main thread and one worker. Its workers start in the
    // background; forwards for WARM_THREADS_MS let them come up, then the output must equal 1 thread's bit for bit.
    const wasm2 = await dist.createMoE(config, weights, { backend: 'wasm', threads: 2 });
    for (const until = performance.now() + WARM_THREADS_MS; performance.now() < until;) await wasm2.forward(hidden.get(CHECK_T), { tokens: CHECK_T });
    const out2 = (await wasm2.forward(hidden.get(CHECK_T), { tokens: CHECK_T })).output;
    if (!out2.every((x, i) => Object.is(x, wasmOut[i]))) throw new Error(`switchyard wasm on 2 threads differs from 1 thread on ${name}`);
    // Expert weights in fewer bytes (converted at createMoE): checked against the f32 reference within
    // the bounds test/node/wasm-experts-dtype.test.ts documents.
    const lowBits = [];
    for (const [weightDtype, bound] of [['f16', 2e-3], ['int8', 4e-2]]) {
      const moe = await dist.createMoE(config, weights, { backend: 'wasm', weightDtype });
      const error = relativeError((await moe.forward(hidden.get(CHECK_T), { tokens: CHECK_T })).output, expected);
      if (!(error <= bound)) throw new Error(`switchyard wasm ${weightDtype} disagrees with the reference on ${name}: relative error ${error} > ${bound}`);
      lowBits.push({ weightDtype, moe, error });
    }

    let ort;
    let ortError;
    try {
      ort = await ortNodeMoE(block, w);
      ortError = relativeError(await ort.run(hidden.get(CHECK_T), CHECK_T), expected);
      if (!(ortError <= AGREEMENT)) throw new Error(`its output disagrees with switchyard's reference: relative error ${ortError.toExponential(2)} > ${AGREEMENT}`);
    } catch (e) {
      skip(`onnxruntime-node com.microsoft.MoE on ${name}`, e);
      await ort?.release();
      ort = undefined;
    }

    const cases = tokens.flatMap((T) => [{ T, inputs: [hidden.get(T)] }, ...(T === 1 ? [{ T, inputs: coldInputs, cold: true }] : [])]);
    for (const { T, inputs, cold } of cases) {
      // Each variant takes the inputs in turn from the first (one input: always the same).
      const inTurn = () => {
        let i = 0;
        return () => inputs[i++ % inputs.length];
      };
      const [x1, x2, xOrt] = [inTurn(), inTurn(), inTurn()];
      const x = inputs[0];
      // Ours on 1 and 2 threads, in f16 and int8, and the peer: timed in alternating rounds, so their
      // ratios compare the same moments of a machine whose speed drifts (bench/lib/measure.mjs).
      const runs = [
        { variant: `createMoE ${ctx.switchyardWasm.variant} 1t`, ours: true, fn: () => wasm.forward(x1(), { tokens: T }),
          note: cold ? `${COLD_INPUTS} tokens in turn` : T === CHECK_T ? `rel. error vs reference ${wasmError.toExponential(1)}` : undefined },
        { variant: `createMoE ${ctx.switchyardWasm.variant} 2t`, ours: true, fn: () => wasm2.forward(x2(), { tokens: T }), note: 'options.threads 2' },
        ...lowBits.map(({ weightDtype, moe, error }) => {
          const xLow = inTurn();
          return {
            variant: `createMoE ${ctx.switchyardWasm.variant} ${weightDtype} 1t`, ours: true, fn: () => moe.forward(xLow(), { tokens: T }),
            note: T === CHECK_T ? `rel. error vs f32 reference ${error.toExponential(1)}` : undefined,
          };
        }),
        ...(ort ? [{
          variant: 'com.microsoft.MoE 1t', ours: false, runtime: 'onnxruntime-node', backend: 'cpu (native)', fn: () => ort.run(xOrt(), T),
          note: T === CHECK_T ? `rel. error vs reference ${ortError.toExponential(1)}` : undefined,
        }] : []),
      ];
      const stats = await measureInterleaved(runs.map((r) => r.fn), budget);
      runs.forEach(({ variant, ours, note, runtime, backend }, i) => {
        const row = { case: caseName(T, cold), runtime: runtime ?? 'switchyard', backend: backend ?? 'wasm', variant, ours, work: work(T), note, ...stats[i] };
        // runs[0] is ours on 1 thread, runs[1] on 2.
        add(i === 1 ? withSpeedup(row, stats[0]) : row);
      });
      if (T <= REFERENCE_MAX_T && !cold) {
        add({
          case: caseName(T), runtime: 'switchyard', backend: 'reference', variant: 'createMoE (TS oracle)', ours: true, work: work(T),
          ...(await measure(() => reference.forward(x, { tokens: T }), { ...budget, iterations: 2, warmupIterations: 1 })),
        });
      }
    }
    reference.destroy();
    wasm.destroy();
    wasm2.destroy();
    for (const { moe } of lowBits) moe.destroy();
    await ort?.release();
  }
}
