// The reference path: the oracle every fast path is checked against. Short and obviously right.
import type { CpuBackend, PreparedExperts } from './backend.js';
import { routerLogits } from '../reference/router-logits.js';
import { topKSoftmax } from '../reference/topk-softmax.js';
import { buildPlan } from '../reference/plan.js';
import { referenceRoute } from '../reference/routers/route.js';
import { prepareReferenceExperts, runReferenceExperts, type ReferenceExperts } from '../reference/experts.js';

export const referenceBackend: CpuBackend = {
  name: 'reference',
  routerLogits,
  route: referenceRoute,
  topKSoftmax,
  buildPlan,
  prepareExperts: prepareReferenceExperts,
  runExperts(experts: PreparedExperts, hidden, nToken, plan) {
    return runReferenceExperts(experts as ReferenceExperts, hidden, nToken, plan);
  },
};
