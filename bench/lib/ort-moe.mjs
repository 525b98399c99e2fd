// onnxruntime-node's com.microsoft.MoE contrib op (CPU kernel, opset 1 of domain com.microsoft) as the peer of a
// switchyard block. The graph is the whole block: logits = X · routerᵀ (MatMul), then MoE(X, logits, fc1, fc2).
// What ORT 1.30's CPU kernel computes, and how the weights are laid out to make it switchyard's math:
//   - routing: softmax over all E logits, top-k, renormalised when normalize_routing_weights = 1 — the
//     same as { kind: 'topk', normalize: true }.
//   - activation_type 'swiglu' is G·σ(α·G)·(L + β); the CPU kernel accepts only swiglu_fusion = 1, where
//     fc1 is [E, 2·dFF, dModel] with each (G, L) pair interleaved row by row, G first (checked numerically:
//     L first disagrees with the reference by 30% of the output norm). With α = 1 and β = 0 it is
//     silu(G)·L, switchyard's 'swiglu'. No swiglu_limit: no clamp.
//   - fc2 is [E, dModel, dFF], switchyard's experts.down as is. No biases.
import { encodeModel, f32 } from './onnx.mjs';
import { loadOrtNode, ORT_NODE_ONE_THREAD } from './peers.mjs';

/** fc1 [E, 2·dFF, dModel]: row 2j = gate row j, row 2j + 1 = up row j, per expert. */
export function interleaveGateUp(gate, up, nExpert, dFF, dModel) {
  const fc1 = new Float32Array(2 * nExpert * dFF * dModel);
  for (let e = 0; e < nExpert; e++) {
    for (let j = 0; j < dFF; j++) {
      const src = (e * dFF + j) * dModel;
      const dst = (e * 2 * dFF + 2 * j) * dModel;
      fc1.set(gate.subarray(src, src + dModel), dst);
      fc1.set(up.subarray(src, src + dModel), dst + dModel);
    }
  }
  return fc1;
}

/**
 * @param w { router [E, d], gate/up [E, f, d], down [E, d, f] }
 * @returns { run(hidden [T, d], T): Promise<Float32Array [T, d]>, release() }
 */
export async function ortNodeMoE(block, w) {
  const { ort, create } = await ortNodeMoESession(block, w);
  const session = await create();
  const { dModel } = block;
  return {
    run: async (hidden, T) => (await session.run({ X: new ort.Tensor('float32', hidden, [T, dModel]) })).Y.data,
    release: () => session.release(),
  };
}

/**
 * The block's ONNX graph, encoded once; create() makes a session of it (what the load suite times).
 * @returns { ort, create(): Promise<InferenceSession> }
 */
export async function ortNodeMoESession({ dModel, dFF, nExpert, k }, w) {
  const ort = await loadOrtNode();
  const routerT = new Float32Array(dModel * nExpert); // [d, E] for MatMul
  for (let e = 0; e < nExpert; e++) for (let i = 0; i < dModel; i++) routerT[i * nExpert + e] = w.router[e * dModel + i];
  const model = encodeModel({
    nodes: [
      { op: 'MatMul', inputs: ['X', 'router_t'], outputs: ['logits'] },
      {
        op: 'MoE', domain: 'com.microsoft', inputs: ['X', 'logits', 'fc1', '', 'fc2'], outputs: ['Y'],
        attributes: { k, activation_type: 'swiglu', swiglu_fusion: 1, normalize_routing_weights: 1, activation_alpha: f32(1), activation_beta: f32(0) },
      },
    ],
    inputs: [{ name: 'X', dims: ['T', dModel] }],
    outputs: [{ name: 'Y', dims: ['T', dModel] }],
    initializers: [
      { name: 'router_t', dims: [dModel, nExpert], data: routerT },
      { name: 'fc1', dims: [nExpert, 2 * dFF, dModel], data: interleaveGateUp(w.gate, w.up, nExpert, dFF, dModel) },
      { name: 'fc2', dims: [nExpert, dModel, dFF], data: w.down },
    ],
    opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
  });
  return { ort, create: () => ort.InferenceSession.create(model, ORT_NODE_ONE_THREAD) };
}
