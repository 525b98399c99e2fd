// The one registry of conformance cases: every case × every backend × every runtime lane.
// Cases reach the library only through the `api` of their context, so this registry bundles alone.
import { badInputCases } from './bad-input.js';
import { sharedGatedCases } from './shared-gated.js';
import { activationEdgeCases } from './activation-edges.js';
import { sharedBytesCases } from './shared-bytes.js';
import { routeNearTieCases } from './route-near-ties.js';
import { goldenCases } from './golden-mixtral.js';
import { familyGoldenCases } from './golden-families.js';
import { megatronCases } from './golden-megatron.js';
import { randomMoECases } from './random-moe.js';
import { randomBlockCases } from './random-blocks.js';
import { routeCases } from './route-topk.js';
import { routerPropertyCases } from './router-properties.js';
import { threadCases } from './threads.js';
import { weightDtypeCases } from './weight-dtypes.js';
import { weightOwnershipCases } from './weight-ownership.js';
import { wasmBuildCases } from './wasm-build.js';
import { capacityPositionCases } from './capacity-position.js';
import { deviceLossCases } from './device-loss.js';
import type { ConformanceCase } from './types.js';

export type { CaseContext, CaseResult, ConformanceCase, LaneBackend } from './types.js';
export { runCases } from './run.js';

export function conformanceCases(): ConformanceCase[] {
  return [...goldenCases, ...familyGoldenCases, ...megatronCases, ...routeCases, ...randomMoECases, ...randomBlockCases, ...routerPropertyCases, ...badInputCases, ...threadCases, ...weightDtypeCases, ...weightOwnershipCases, ...wasmBuildCases, ...capacityPositionCases, ...sharedGatedCases, ...activationEdgeCases, ...sharedBytesCases, ...routeNearTieCases, ...deviceLossCases];
}
