// The published declarations (dist/types, built by `npm test` before this runs) as a user's TypeScript
// sees them: a program written from DESIGN.md §3 — every name and field spelled as there — must compile
// with `--strict` against the package, both without any WebGPU typings installed (GPUDevice is then not
// a global name: it once broke every such program) and with @webgpu/types, where options.device takes a
// real GPUDevice.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const dir = mkdtempSync(join(tmpdir(), 'switchyard-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROGRAM = `
import { route, createMoE, fromHuggingFace, readSafetensors, SwitchyardError, routers, RouterMonitor,
  updateExpertBias, balancedHashTable, toFloat32 } from 'switchyard';
import type { BackendName, MoE, MoEConfig, RouterInput, RouterSpec, Routing, RuntimeOptions, TensorLike } from 'switchyard';

export async function program(bytes: Uint8Array, device?: DEVICE): Promise<number> {
  const E = 4, d = 8, T = 3;
  const spec: RouterSpec = {
    kind: 'topk', numExperts: E, topK: 2, score: 'sigmoid', normalize: true, scale: 2.5,
    selectionBias: new Float32Array(E), groups: { count: 2, topk: 1, scoreTopN: 2, on: 'scores' },
    capacity: { factor: 1.25, dropPolicy: 'position', padToCapacity: false, per: 'sequence' },
  };
  const kinds: RouterSpec[] = [
    { kind: 'hash', numExperts: E, topK: 2, table: new Int32Array(8), seed: 1, weights: 'scores', score: 'softmax' },
    { kind: 'sinkhorn', numExperts: E, topK: 1, tolerance: 1e-4, maxIterations: 100 },
    { kind: 'expert-choice', numExperts: E, topK: E, capacityFactor: 2, minCapacity: 1 },
    { kind: 'self', numExperts: E, topK: 2, offset: 0, temperature: 1, score: 'softmax', normalize: true },
    { kind: 'random', numExperts: E, topK: 2, seed: 3 },
    { kind: 'topk', numExperts: E, topK: 2, capacity: { perExpert: 2 } },
  ];
  const input: RouterInput = { tokens: T, logits: new Float32Array(T * E), tokenIds: new Int32Array(T), sequenceLength: T };
  const backend: BackendName = 'auto';
  const options: RuntimeOptions = { backend, device, weightDtype: 'f16', threads: 1 };
  const r: Routing = await route(spec, input, options);
  const { offsets, rows, weights, slots } = r.plan;
  const { load, dropped, droppedFraction, tokenEntropy, loadEntropy, maxOverMean, cv, deadExperts } = r.stats;
  const { aux, seqAux, z } = r.losses;
  const config: MoEConfig = {
    dModel: d, router: kinds[0], expert: { dFF: 16, activation: 'swiglu-oai', bias: true, alpha: 1.702, limit: 7 },
    shared: { dFF: 16, gated: true },
  };
  const tensors: Record<string, TensorLike> = {
    'router.weight': new Float32Array(E * d), 'experts.gate': { dtype: 'bf16', shape: [E, 16, d], data: new Uint16Array(E * 16 * d) },
  };
  const sharedByWeights: MoEConfig = { ...config, shared: { dFF: 16 } };
  const moe: MoE = await createMoE(config.shared ? config : sharedByWeights, tensors, options);
  const { output, routing } = await moe.forward(new Float32Array(T * d), { tokens: T, tokenIds: new Int32Array(T), sequenceLength: T });
  moe.destroy();
  const file = readSafetensors(bytes);
  const widened: Float32Array = toFloat32(file.tensors.get('gate.weight')!);
  const layer: MoE = await fromHuggingFace({ config: { model_type: 'mixtral' }, tensors: file, prefix: 'model.layers.0.' }, options);
  const layer2 = await fromHuggingFace({ config: {}, tensors: [file], prefix: '' });
  const monitor = new RouterMonitor();
  monitor.record(routing);
  updateExpertBias(new Float32Array(E), routing.stats.load, 1e-3);
  const table: Int32Array = balancedHashTable(new Float64Array(16), E, 2);
  const presets: RouterSpec[] = [routers.mixtral({ E, k: 2 }), routers.deepseekV3({ E, k: 2, nGroup: 2, topkGroup: 1 })];
  try { await route(spec, input); } catch (e) { if (e instanceof SwitchyardError) return e.code.length; }
  return output.length + offsets.length + rows.length + weights.length + slots.length + load.length + dropped + droppedFraction +
    tokenEntropy + loadEntropy + maxOverMean + cv + deadExperts + aux + (seqAux ?? 0) + z + file.tensors.size + table.length +
    presets.length + widened.length + layer.config.dModel + layer2.backend.length + monitor.globalAux();
}
`;

/** Compiles PROGRAM against the package with the given global typings; returns tsc's diagnostics. */
function compile(name: string, types: string[], device: string, lib?: string[], program = PROGRAM): string {
  const project = join(dir, name);
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  symlinkSync(root, join(project, 'node_modules', 'switchyard'));
  for (const t of types) {
    const [scope, pkg] = t.split('/');
    mkdirSync(join(project, 'node_modules', scope), { recursive: true });
    symlinkSync(join(root, 'node_modules', scope, pkg), join(project, 'node_modules', scope, pkg));
  }
  writeFileSync(join(project, 'program.ts'), program.replace('DEVICE', device));
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types, ...(lib ? { lib } : {}) },
    files: ['program.ts'],
  }));
  const r = spawnSync(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

describe('the published type declarations', () => {
  it('exist (npm test builds them first)', () => {
    expect(existsSync(join(root, 'dist', 'types', 'index.d.ts'))).toBe(true);
  });

  it('compile a program written from DESIGN.md §3 without WebGPU typings', () => {
    expect(compile('bare', [], 'object')).toBe('');
  }, 60_000);

  it('compile it with @webgpu/types, options.device taking a GPUDevice', () => {
    expect(compile('webgpu', ['@webgpu/types'], 'GPUDevice')).toBe('');
  }, 60_000);

  it('compile it in a Node program without the DOM lib (lib es2022, @types/node), which has no WebAssembly namespace', () => {
    expect(compile('node-lib', ['@types/node'], 'object', ['es2022'])).toBe('');
  }, 60_000);

  it('refuse an options.wasmModule that is not a WebAssembly.Module where the typings declare one', () => {
    const wrong = `import type { RuntimeOptions } from 'switchyard';\nexport const o: RuntimeOptions = { wasmModule: 'switchyard-simd.wasm' };\n`;
    expect(compile('wasm-module', [], 'object', undefined, wrong)).toMatch(/error TS2322[^\n]*'string'/);
  }, 60_000);
});
