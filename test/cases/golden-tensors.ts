// Typed views of a golden's safetensors tensors, shared by the golden cases. A missing name is a case
// failure that names the tensor, not a TypeError deep inside a comparison.
import { CaseFailure } from './types.js';

export type GoldenTensors = Map<string, { data: ArrayBufferView }>;

function tensor(tensors: GoldenTensors, name: string): ArrayBufferView {
  const t = tensors.get(name);
  if (!t) throw new CaseFailure(`golden tensor ${name} missing`);
  return t.data;
}

/** The F32 tensor `name`, viewed in place. */
export function goldenF32(tensors: GoldenTensors, name: string): Float32Array {
  const d = tensor(tensors, name);
  return new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4);
}

/** The I32 tensor `name`, viewed in place. */
export function goldenI32(tensors: GoldenTensors, name: string): Int32Array {
  const d = tensor(tensors, name);
  return new Int32Array(d.buffer, d.byteOffset, d.byteLength / 4);
}
