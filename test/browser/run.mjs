#!/usr/bin/env node
// Chromium lanes: serves the repository on 127.0.0.1 (a secure context, which navigator.gpu needs),
// opens test/browser/index.html in headless Debian Chromium through playwright-core, and runs the
// registry against dist/switchyard.browser.js on WASM and on WebGPU (SwiftShader, Chromium's own).
// The page is cross-origin isolated (COOP same-origin + COEP require-corp, CORP on every response), so it
// has SharedArrayBuffer and the threads cases run on real Web Workers from the page's main thread; a page
// that is not isolated fails the run (that would test only the 1-thread fallback, silently).
// Prints one line `SWITCHYARD_LANES <json>` for scripts/test.mjs. Never downloads a browser.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
const goldens = process.env.SWITCHYARD_GOLDENS ?? join(root, '..', 'shared', 'goldens');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// What each flag is for:
//   --enable-unsafe-webgpu       WebGPU on Linux is still behind this flag; gives the SwiftShader adapter headless.
//   --use-webgpu-adapter=swiftshader   ask for Chromium's bundled CPU Vulkan explicitly (no GPU here).
//   --no-sandbox, --disable-gpu-sandbox   we run as root in a container, where the sandboxes cannot start.
//   the rest: no network traffic of Chromium's own, which this machine's closed network refuses.
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];
const LANES = [
  { lane: 'chromium-wasm', backend: 'wasm' },
  { lane: 'chromium-webgpu', backend: 'webgpu' },
];
/**
 * Cross-origin isolation: COOP + COEP on the page make `crossOriginIsolated` true; under COEP require-corp
 * every subresource (the bundle, its .wasm, the registry, goldens) must opt in with CORP. Workers made
 * from blob: URLs inherit the page's policy, so they need nothing here.
 */
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json' };

/** Maps a URL path to a file: /goldens/* to the goldens folder, everything else under the repo root. */
function fileFor(urlPath) {
  const [base, rest] = urlPath.startsWith('/goldens/') ? [goldens, urlPath.slice('/goldens/'.length)] : [root, urlPath.slice(1)];
  const file = normalize(join(base, decodeURIComponent(rest)));
  return file.startsWith(normalize(base + sep)) ? file : undefined;
}

function serve() {
  const server = createServer(async (request, response) => {
    const file = fileFor(new URL(request.url, 'http://x').pathname);
    try {
      if (!file) throw Object.assign(new Error('outside'), { code: 'ENOENT' });
      const body = await readFile(file);
      response.writeHead(200, { ...ISOLATION, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      response.end(body);
    } catch (e) {
      response.writeHead(e.code === 'ENOENT' || e.code === 'EISDIR' ? 404 : 500, ISOLATION).end(String(e.message));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  if (!existsSync(executablePath)) {
    // The same report shape as a lane that could not run, so the orchestrator applies its CI rule.
    // The registry bundle is plain ES, so Node can list the cases that will not run.
    const reason = `no Chromium at ${executablePath} (install it with .ci/install-system.sh)`;
    const { conformanceCases } = await import(new URL('../../build/test/cases.js', import.meta.url).href);
    const cases = conformanceCases();
    const reports = LANES.map(({ lane, backend }) => ({
      lane,
      results: [],
      unavailable: reason,
      notRun: cases.filter((c) => c.backends.includes(backend)).map((c) => c.name),
    }));
    console.log(`SWITCHYARD_LANES ${JSON.stringify(reports)}`);
    return;
  }
  const server = await serve();
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[chromium] ${m.text()}`); });
    await page.goto(`http://127.0.0.1:${server.address().port}/test/browser/index.html`);
    try {
      await page.waitForFunction(() => globalThis.switchyardLanes !== undefined, undefined, { timeout: 30_000 });
    } catch {
      throw new Error(`the test page did not load: ${pageErrors.join('; ') || 'no page error reported'}`);
    }
    const isolated = await page.evaluate(() => ({ coi: globalThis.crossOriginIsolated, sab: typeof SharedArrayBuffer }));
    if (isolated.coi !== true || isolated.sab !== 'function') {
      throw new Error(`the test page is not cross-origin isolated (crossOriginIsolated ${isolated.coi}, SharedArrayBuffer ${isolated.sab}): check the COOP/COEP headers`);
    }
    const reports = [];
    for (const { lane, backend } of LANES) {
      reports.push(await page.evaluate(([l, b]) => globalThis.switchyardLanes.run(l, b), [lane, backend]));
    }
    console.log(`SWITCHYARD_LANES ${JSON.stringify(reports)}`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
