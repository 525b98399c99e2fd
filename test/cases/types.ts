// The conformance case registry's contract. One list of cases runs in every runtime lane
// (Node/vitest, Deno, Chromium, workerd); each lane supplies the API and a way to read golden files.
import type * as Switchyard from '../../ts/index.js';

export type SwitchyardApi = typeof Switchyard;
export type LaneBackend = 'reference' | 'wasm' | 'webgpu';

export interface CaseContext {
  /** The public API under test: the source module in Node, the built bundle elsewhere. */
  api: SwitchyardApi;
  backend: LaneBackend;
  /** Reads ../shared/goldens/<name>/<file>. */
  readGolden(name: string, file: 'case.json' | 'tensors.safetensors'): Promise<Uint8Array>;
  /** A new GPU device from the lane's own WebGPU, for cases that destroy it (webgpu lanes only). */
  gpuDevice?(): Promise<GPUDevice>;
}

export interface ConformanceCase {
  /** Unique, printable: says what the case is and its parameters (seed, shapes). */
  name: string;
  /** The backends this case applies to. */
  backends: readonly LaneBackend[];
  /** Throws (CaseFailure or any error) when the backend disagrees with the oracle. */
  run(ctx: CaseContext): Promise<void>;
}

export class CaseFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaseFailure';
  }
}

export interface CaseResult {
  name: string;
  backend: LaneBackend;
  ok: boolean;
  message?: string;
  ms: number;
}
