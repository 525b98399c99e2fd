// readSafetensors on a checkpoint whose bytes live in a SharedArrayBuffer (a loader that fills shared memory
// for its workers): the same tensors as from an ordinary buffer. A browser's TextDecoder refuses shared
// views, and the header used to be decoded straight from one ('invalid UTF-8' in Chromium).
// It runs in the WebGPU lanes only because those are the runtimes here that have SharedArrayBuffer (Node,
// Deno, the isolated Chromium page) — workerd, the one without, has no WebGPU lane.
import { CaseFailure, type CaseContext, type ConformanceCase } from './types.js';

async function run(ctx: CaseContext): Promise<void> {
  if (typeof SharedArrayBuffer === 'undefined') throw new CaseFailure('this runtime has no SharedArrayBuffer');
  const bytes = await ctx.readGolden('mixtral', 'tensors.safetensors');
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  const want = ctx.api.readSafetensors(bytes);
  const got = ctx.api.readSafetensors(shared);
  if ([...got.tensors.keys()].join() !== [...want.tensors.keys()].join()) throw new CaseFailure('tensor names differ');
  for (const [name, t] of want.tensors) {
    const g = got.tensors.get(name)!;
    const a = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const b = new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength);
    if (g.dtype !== t.dtype || g.shape.join() !== t.shape.join() || a.some((v, i) => v !== b[i])) throw new CaseFailure(`${name} differs`);
  }
}

export const sharedBytesCases: ConformanceCase[] = [{
  name: 'readSafetensors: a checkpoint in a SharedArrayBuffer reads as from an ordinary buffer',
  backends: ['webgpu'],
  run,
}];
