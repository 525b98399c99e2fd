#!/usr/bin/env node
// `npm test` after the build: every conformance lane, one after the other (2 cores), then one table.
//   vitest (test/node, from source)  node-reference, node-wasm, node-webgpu (+ node-unit: other test files)
//   test/deno/run.ts                 deno-wasm, deno-webgpu            (dist/switchyard.deno.js)
//   test/browser/run.mjs             chromium-wasm, chromium-webgpu    (dist/switchyard.browser.js)
//   test/workerd/run.mjs             workerd-wasm                      (dist/switchyard.workerd.js)
// With CI=true a missing runtime, browser or GPU adapter fails its lane; otherwise it is skipped and the
// reason printed. The last line is `N passed, N failed[, N skipped]`; the exit code is 1 on any failure.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...parts) => join(root, ...parts);
const inCI = process.env.CI === 'true';
// A lane process that runs longer than this is stopped and its lanes fail (a hung GPU map, say).
const RUNNER_TIMEOUT_MS = 5 * 60_000;
const VITEST_TIMEOUT_MS = 8 * 60_000;
const LANE_ORDER = ['node-reference', 'node-wasm', 'node-webgpu', 'node-unit', 'deno-wasm', 'deno-webgpu', 'chromium-wasm', 'chromium-webgpu', 'workerd-wasm'];

/** lane → { passed, failed, skipped, failures: [{ name, message }], skips: Set<reason> } */
const lanes = new Map();
function lane(name) {
  if (!lanes.has(name)) lanes.set(name, { passed: 0, failed: 0, skipped: 0, failures: [], skips: new Set() });
  return lanes.get(name);
}
const fail = (laneName, name, message) => {
  const l = lane(laneName);
  l.failed++;
  l.failures.push({ name, message });
};

/** Runs a process with inherited stderr; resolves to { code, stdout, timedOut }. stdout is echoed unless `quiet`. */
function run(command, args, { timeoutMs, quiet = false, env = {} }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let stdout = '';
    let timedOut = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!quiet) process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, timedOut, error: e });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, timedOut });
    });
  });
}

async function step(label, work) {
  console.log(`\n── ${label} ${'─'.repeat(Math.max(0, 60 - label.length))}`);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  timings.push(`${label} ${seconds.toFixed(1)} s`);
}
const timings = [];

// ── vitest ──────────────────────────────────────────────────────────────────────────────────────────
async function vitestLanes() {
  const report = at('build', 'test', 'vitest.json');
  await rm(report, { force: true });
  const result = await run(
    process.execPath,
    [at('node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    { timeoutMs: VITEST_TIMEOUT_MS },
  );
  if (!existsSync(report)) {
    fail('node-unit', 'vitest', result.timedOut ? `timed out after ${VITEST_TIMEOUT_MS / 1000} s` : `vitest wrote no report (exit ${result.code})`);
    return;
  }
  const json = JSON.parse(await readFile(report, 'utf8'));
  for (const file of json.testResults ?? []) {
    const fileName = relative(root, file.name);
    // A file that fails to load (syntax, import) has a message and no assertions.
    if (file.status === 'failed' && !(file.assertionResults ?? []).length) {
      fail('node-unit', fileName, file.message || 'the test file failed to load');
    }
    for (const t of file.assertionResults ?? []) {
      const top = t.ancestorTitles?.[0] ?? '';
      const laneName = /^node-(reference|wasm|webgpu)$/.test(top) ? top : 'node-unit';
      const name = laneName === 'node-unit' ? `${fileName} > ${[...(t.ancestorTitles ?? []), t.title].join(' > ')}` : t.title;
      if (t.status === 'passed') lane(laneName).passed++;
      else if (t.status === 'failed') fail(laneName, name, (t.failureMessages ?? []).join('\n') || 'failed');
      // The JSON reporter calls a test that started or was queued but never finished 'pending': its
      // worker died (a native crash, say), so vitest itself may still call the file passed.
      else if (t.status === 'pending') fail(laneName, name, `did not finish: the test worker exited while it ran (vitest exit ${result.code}; see its output above)`);
      else if (inCI) {
        // STYLE.md: a skip never counts as a pass, and in CI nothing skips.
        fail(laneName, name, `${t.status} in CI${t.meta?.skipReason ? `: ${t.meta.skipReason}` : ''}`);
      } else {
        lane(laneName).skipped++;
        lane(laneName).skips.add(t.meta?.skipReason ?? `${t.status}: ${name}`);
      }
    }
  }
  // Vitest can also fail outside any test (unhandled errors): its exit code is the last word.
  if (result.code !== 0 && ![...lanes.values()].some((l) => l.failed > 0)) {
    fail('node-unit', 'vitest', `vitest exited with code ${result.code} without a failing test (unhandled error? see above)`);
  }
}

// ── lanes in other runtimes ─────────────────────────────────────────────────────────────────────────
/** Reads the `SWITCHYARD_LANES <json>` line of a runner and books its lanes; a broken runner fails them. */
function bookRunner(expected, result, what) {
  const line = result.stdout.split('\n').find((l) => l.startsWith('SWITCHYARD_LANES '));
  if (result.code !== 0 || !line) {
    const why = result.timedOut
      ? `${what} timed out after ${RUNNER_TIMEOUT_MS / 1000} s`
      : result.error
        ? `${what} could not start: ${result.error.message}`
        : `${what} exited with code ${result.code}${line ? '' : ' and reported no lanes'} (its output is above)`;
    for (const l of expected) fail(l, '(runner)', why);
    return;
  }
  const reports = JSON.parse(line.slice('SWITCHYARD_LANES '.length));
  for (const l of expected) if (!reports.some((r) => r.lane === l)) fail(l, '(runner)', `${what} did not report lane ${l}`);
  for (const report of reports) {
    const l = lane(report.lane);
    if (report.unavailable) {
      unavailable(report.lane, report.unavailable, report.notRun?.length ?? 0);
      continue;
    }
    for (const r of report.results) {
      if (r.ok) l.passed++;
      else fail(report.lane, r.name, r.message ?? 'failed');
    }
  }
}

/** A lane that cannot run here: in CI a failure per case it would have run (at least one), else skips. */
function unavailable(laneName, reason, nCases) {
  const l = lane(laneName);
  if (inCI) {
    fail(laneName, '(lane unavailable in CI)', `${reason}${nCases ? ` — ${nCases} cases not run` : ''}`);
    l.failed += Math.max(0, nCases - 1);
  } else {
    l.skipped += nCases;
    l.skips.add(reason);
  }
}

async function denoLanes() {
  const expected = ['deno-wasm', 'deno-webgpu'];
  const deno = at('node_modules', '.bin', 'deno');
  if (!existsSync(deno)) {
    for (const l of expected) unavailable(l, `no Deno at ${relative(root, deno)} (npm ci installs it)`, 0);
    return;
  }
  const result = await run(deno, ['run', '--unstable-webgpu', '--allow-read', '--allow-env', at('test', 'deno', 'run.ts')], {
    timeoutMs: RUNNER_TIMEOUT_MS,
    quiet: true,
    env: { DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
  });
  echoExceptLanes(result.stdout);
  bookRunner(expected, result, 'deno');
}

async function nodeRunner(script, expected, what) {
  const result = await run(process.execPath, [at(...script)], { timeoutMs: RUNNER_TIMEOUT_MS, quiet: true });
  echoExceptLanes(result.stdout);
  bookRunner(expected, result, what);
}

function echoExceptLanes(stdout) {
  const rest = stdout.split('\n').filter((l) => l && !l.startsWith('SWITCHYARD_LANES ')).join('\n');
  if (rest) console.log(rest);
}

// ── report ──────────────────────────────────────────────────────────────────────────────────────────
function report() {
  const names = [...LANE_ORDER.filter((n) => lanes.has(n)), ...[...lanes.keys()].filter((n) => !LANE_ORDER.includes(n))];
  console.log('\n── results ' + '─'.repeat(52));
  console.log(`${'lane'.padEnd(18)}${'passed'.padStart(8)}${'failed'.padStart(8)}${'skipped'.padStart(9)}`);
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const n of names) {
    const l = lanes.get(n);
    const none = l.passed + l.failed + l.skipped === 0 ? '   (no cases)' : '';
    console.log(`${n.padEnd(18)}${String(l.passed).padStart(8)}${String(l.failed).padStart(8)}${String(l.skipped).padStart(9)}${none}`);
    total.passed += l.passed;
    total.failed += l.failed;
    total.skipped += l.skipped;
  }
  const skipped = names.filter((n) => lanes.get(n).skips.size);
  if (skipped.length) {
    console.log('\nskipped (not a pass; in CI these fail):');
    for (const n of skipped) for (const reason of lanes.get(n).skips) console.log(`  ${n}: ${reason}`);
  }
  const failing = names.filter((n) => lanes.get(n).failures.length);
  if (failing.length) {
    console.log('\nfailures:');
    for (const n of failing) {
      for (const { name, message } of lanes.get(n).failures) {
        // Stack frames inside node_modules (vitest's runner) say nothing about the case.
        const lines = String(message).trim().split('\n').filter((line) => !/^\s+at .*(node_modules|<anonymous>)/.test(line));
        console.log(`  ✗ ${n} › ${name}\n      ${lines.slice(0, 6).join('\n      ')}${lines.length > 6 ? '\n      …' : ''}`);
      }
    }
  }
  if (total.passed + total.failed === 0) {
    total.failed++;
    console.log('\nno case ran in any lane: is test/cases/index.ts empty?');
  }
  console.log(`\ntimings: ${timings.join(', ')}`);
  console.log(`${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
  return total.failed === 0;
}

async function main() {
  if (!existsSync(at('dist', 'switchyard.deno.js')) || !existsSync(at('build', 'test', 'cases.js'))) {
    console.error('dist/ or build/test/cases.js is missing: run `npm run build` first (npm test does).');
    process.exit(1);
  }
  console.log(`switchyard tests${inCI ? ' (CI: a missing runtime, browser or adapter fails)' : ''}`);
  await step('vitest (node lanes, from source)', vitestLanes);
  await step('deno (dist/switchyard.deno.js)', denoLanes);
  await step('chromium (dist/switchyard.browser.js)', () => nodeRunner(['test', 'browser', 'run.mjs'], ['chromium-wasm', 'chromium-webgpu'], 'the Chromium runner'));
  await step('workerd (dist/switchyard.workerd.js)', () => nodeRunner(['test', 'workerd', 'run.mjs'], ['workerd-wasm'], 'the workerd runner'));
  process.exit(report() ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
