// The module's exports, nothing else. Pointers are byte offsets into the exported memory, chosen by the host.
export { heapBase } from './memory';
export { relaxed } from './simd';
export { routerLogits } from './router/logits';
export { softmax } from './router/softmax';
export { topKSoftmax } from './router/topk';
export { buildPlan } from './plan';
export { runExperts } from './ffn/experts';
