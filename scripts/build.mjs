#!/usr/bin/env node
// Builds everything the lanes and the package need:
//   build/wasm/switchyard-{simd,relaxed}[-threads].wasm   asc, the four targets of asconfig.json
//   dist/switchyard-*.wasm                      copies, loaded from beside the bundles
//   dist/switchyard.{node,deno,browser,workerd}.js, dist/cli.js   esbuild, one ES module per runtime
//   dist/types/                                 tsc declarations (the type check gates the build)
//   build/test/cases.js                         the conformance registry and runCases, for Deno/Chromium/workerd
// Usage: node scripts/build.mjs [--no-types]   (--no-types skips tsc: `npm run demo` and quick iteration)
// A .wasm newer than every input of asc (assembly/, asconfig.json, the compiler) is kept, not rebuilt.
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...parts) => join(root, ...parts);
const skipTypes = process.argv.includes('--no-types');

const WASM = [
  { target: 'simd', file: 'switchyard-simd.wasm' },
  { target: 'relaxed', file: 'switchyard-relaxed.wasm' },
  // Shared-memory builds for options.threads > 1 (imported shared memory; worker threads instantiate them too).
  { target: 'simd-threads', file: 'switchyard-simd-threads.wasm' },
  { target: 'relaxed-threads', file: 'switchyard-relaxed-threads.wasm' },
];
const RUNTIMES = [
  // platform decides esbuild's defaults; conditions pick dependencies' runtime-specific exports.
  { runtime: 'node', platform: 'node', conditions: ['node'] },
  { runtime: 'deno', platform: 'neutral', conditions: ['deno'] },
  { runtime: 'browser', platform: 'browser', conditions: ['browser'] },
  { runtime: 'workerd', platform: 'neutral', conditions: ['workerd', 'worker'] },
];
const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  loader: { '.wgsl': 'text' },
  // webgpu: optional dependency, imported at run time only in Node. *.wasm: loaded by each entry at run
  // time (workerd imports them statically and must see the import). node:*: Node built-ins.
  external: ['webgpu', '*.wasm', 'node:*'],
  // Lets ts/entry/node.ts tell a bundle (wasm beside it) from a source run under vitest.
  define: { __SWITCHYARD_BUNDLE__: 'true' },
  legalComments: 'none',
  logLevel: 'warning',
};

class BuildError extends Error {}

/** Runs a command from node_modules/.bin (never a network npx), resolving to its output. */
function run(bin, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [at('node_modules', bin), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new BuildError(`${bin} ${args.join(' ')} failed (exit ${code}):\n${out}`))));
  });
}

async function timed(label, work) {
  const started = performance.now();
  const result = await work();
  console.log(`  ${label.padEnd(34)} ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

/** The latest modification time of these files and of every file below these folders. */
async function newestMtime(paths) {
  let newest = 0;
  for (const path of paths) {
    const info = await stat(path);
    if (info.isDirectory()) {
      const entries = await readdir(path, { recursive: true, withFileTypes: true });
      for (const e of entries) if (e.isFile()) newest = Math.max(newest, (await stat(join(e.parentPath ?? e.path, e.name))).mtimeMs);
    }
    newest = Math.max(newest, info.mtimeMs);
  }
  return newest;
}

async function buildWasm() {
  if (!existsSync(at('assembly', 'index.ts'))) throw new BuildError('assembly/index.ts is missing');
  if (!existsSync(at('asconfig.json'))) throw new BuildError('asconfig.json is missing');
  // Two asc processes at a time: asc is single-threaded, and four targets one after the other would be
  // most of the build's time once tsc (on the other core) is done.
  const inputsChanged = await newestMtime([at('assembly'), at('asconfig.json'), at('node_modules', 'assemblyscript', 'package.json')]);
  const queue = [...WASM];
  const lane = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { target, file } = next;
      const built = at('build', 'wasm', file);
      if (existsSync(built) && (await stat(built)).mtimeMs > inputsChanged) {
        console.log(`  ${`asc --target ${target}`.padEnd(34)} up to date`);
      } else {
        await timed(`asc --target ${target}`, () => run('assemblyscript/bin/asc.js', ['assembly/index.ts', '--target', target]));
      }
      if (!existsSync(built)) throw new BuildError(`asc --target ${target} did not write build/wasm/${file}; check outFile in asconfig.json`);
      await copyFile(built, at('dist', file));
    }
  };
  await Promise.all([lane(), lane()]);
}

/** The registry must reach the library only through ctx.api: importing the facade would bundle a second
 *  copy of the library, with no WASM loader, into build/test/cases.js. Type-only imports are erased. */
const facadeGuard = {
  name: 'registry-uses-ctx-api',
  setup(build) {
    build.onResolve({ filter: /(^|\/)ts\/(index|entry\/[a-z]+)(\.js|\.ts)?$/ }, (args) => ({
      errors: [{ text: `${args.importer} imports ${args.path}; conformance cases must use ctx.api (type-only imports are fine)` }],
    }));
  },
};

async function bundleAll() {
  const jobs = RUNTIMES.map(({ runtime, platform, conditions }) =>
    esbuild.build({ ...common, platform, conditions, entryPoints: [at('ts', 'entry', `${runtime}.ts`)], outfile: at('dist', `switchyard.${runtime}.js`) }),
  );
  if (existsSync(at('ts', 'cli.ts'))) {
    jobs.push(
      esbuild
        .build({ ...common, platform: 'node', entryPoints: [at('ts', 'cli.ts')], outfile: at('dist', 'cli.js'), banner: { js: '#!/usr/bin/env node' } })
        .then(() => chmod(at('dist', 'cli.js'), 0o755)),
    );
  } else {
    console.log('  (ts/cli.ts not present yet: dist/cli.js skipped)');
  }
  if (existsSync(at('test', 'cases', 'index.ts'))) {
    jobs.push(
      esbuild.build({
        ...common,
        platform: 'neutral',
        // The registry and its lane runner in one module, so every lane runs the cases the same way.
        stdin: {
          contents: "export { conformanceCases } from './index.ts';\nexport { runCases } from './run.ts';\n",
          resolveDir: at('test', 'cases'),
          sourcefile: 'test/cases/bundle.ts',
          loader: 'ts',
        },
        outfile: at('build', 'test', 'cases.js'),
        plugins: [facadeGuard],
      }),
    );
  } else {
    throw new BuildError('test/cases/index.ts is missing');
  }
  await Promise.all(jobs);
}

async function main() {
  const started = performance.now();
  console.log('build:');
  await rm(at('dist'), { recursive: true, force: true });
  await rm(at('build', 'test'), { recursive: true, force: true });
  await mkdir(at('dist'), { recursive: true });
  await mkdir(at('build', 'wasm'), { recursive: true });
  const types = skipTypes ? Promise.resolve() : timed('tsc (declarations + type check)', () => run('typescript/bin/tsc', ['-p', 'tsconfig.json']));
  // Settle tsc even when asc or esbuild fails first, so its errors are reported too.
  const [typesResult, restResult] = await Promise.allSettled([types, (async () => {
    await buildWasm();
    await timed('esbuild (4 runtimes, cli, cases)', bundleAll);
  })()]);
  const failures = [restResult, typesResult].filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (failures.length) {
    for (const f of failures) console.error(f instanceof BuildError ? f.message : f);
    console.error('build FAILED');
    process.exit(1);
  }
  const sizes = await Promise.all(['switchyard.node.js', ...WASM.map((w) => w.file)].map(async (f) => `${f} ${(await stat(at('dist', f))).size} B`));
  console.log(`  ${sizes.join(', ')}`);
  console.log(`build done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e instanceof BuildError ? e.message : e);
  process.exit(1);
});
