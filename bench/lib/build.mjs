// Builds what the benches need beyond dist/: the internals bundle (esbuild) and the bare-GEMM WASM entry
// (asc, both builds). Everything goes to bench/.build/ (gitignored) and is rebuilt on every run: it takes
// ~4 s, and a stale copy after someone changes the kernels would measure the wrong code.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const buildDir = join(root, 'bench', '.build');

function asc(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`asc ${args.join(' ')} failed (exit ${code}):\n${out}`))));
  });
}

/**
 * The directory of the public bundle: dist/, built by `npm run bench` (npm run build) or by hand with
 * `node scripts/build.mjs --no-types`. SWITCHYARD_DIST points elsewhere (e.g. a clean worktree's dist/)
 * when others rebuild dist/ concurrently. A missing bundle is waited for briefly (a build in flight).
 */
export async function distDir() {
  const dir = process.env.SWITCHYARD_DIST ?? join(root, 'dist');
  const file = join(dir, 'switchyard.node.js');
  for (let attempt = 0; attempt < 30 && !existsSync(file); attempt++) await new Promise((r) => setTimeout(r, 1000));
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` (or node scripts/build.mjs --no-types)`);
  return dir;
}

export async function buildBenchArtifacts() {
  await mkdir(buildDir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(root, 'bench', 'entry', 'internals.ts')],
    outfile: join(buildDir, 'internals.js'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    external: ['webgpu', 'node:*'],
    logLevel: 'warning',
  });
  const gemm = {
    simd128: await buildBenchWasm('bench/wasm/gemm.ts', 'gemm-simd.wasm'),
    'relaxed-simd': await buildBenchWasm('bench/wasm/gemm.ts', 'gemm-relaxed.wasm', true),
  };
  const stream = await buildBenchWasm('bench/wasm/stream.ts', 'stream.wasm');
  return { internals: join(buildDir, 'internals.js'), gemm, stream };
}

/**
 * A benchmark-only AssemblyScript entry (bench/wasm/) compiled to bench/.build/<name>: no runtime, no
 * asserts, SIMD128, plus relaxed SIMD when asked. @returns the file's path
 */
export async function buildBenchWasm(entry, name, relaxed = false) {
  await mkdir(buildDir, { recursive: true });
  const file = join(buildDir, name);
  await asc([entry, '--runtime', 'stub', '--use', 'abort=', '-O3', '--noAssert', '--enable', 'simd', ...(relaxed ? ['--enable', 'relaxed-simd'] : []), '-o', file]);
  return file;
}
