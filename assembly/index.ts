// The module's exports, nothing else. Pointers are byte offsets into the exported memory, chosen by the host.
export { heapBase } from './memory';
export { relaxed } from './simd';
export { routerLogits } from './router/logits';
export { softmax } from './router/softmax';
export { topKSoftmax } from './router/topk';
export { buildPlan } from './plan';
export { runExperts } from './ffn/experts';
export { selfLogits } from './router/self-logits';
export { scoreLogits } from './router/scores';
export { selectTopK, gatherWeights } from './router/select-topk';
export { topKRows } from './router/topk-row';
export { hashExperts, denseWeights } from './router/hash';
export { sinkhorn } from './router/sinkhorn';
export { expertChoice, expertChoiceCapacity } from './router/expert-choice';
export { expertCapacity, applyCapacity } from './router/capacity';
export { buildPaddedPlan } from './router/padded-plan';
export { routingStats } from './router/stats';
export { auxLoss, zLoss } from './router/losses';
