// The entries' WASM loading: the browser entry run in Node with fetch stubbed (what a page sees when its server
// or bundler did not serve the .wasm files beside the bundle, and how the bundle names those files), and the
// checks that name a Worker's wrong setup (a .wasm handed over as bytes, a browser build without a module URL).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMoE, route, SwitchyardError } from '../../ts/entry/browser.js';
import { WASM_FILES, WASM_THREAD_FILES } from '../../ts/entry/wasm-files.js';
import type { MoEConfig } from '../../ts/spec/types.js';
import { normal, rng } from '../cases/rng.js';

const dist = (file: string) => new URL(`../../dist/${file}`, import.meta.url);
const [E, d, f, T] = [4, 8, 6, 3];
const config: MoEConfig = { dModel: d, router: { kind: 'topk', numExperts: E, topK: 2 }, expert: { dFF: f, activation: 'swiglu' } };
const r = rng(5);
const weights = { 'router.weight': normal(r, E * d), 'experts.gate': normal(r, E * f * d), 'experts.up': normal(r, E * f * d), 'experts.down': normal(r, E * d * f) };
const hidden = normal(r, T * d);
const logits = normal(r, T * E);

/** fetch answering every URL as a dev server does for a file it lacks: its HTML page, status 200. */
const htmlPage = async () => new Response('<!doctype html><html></html>', { status: 200, headers: { 'content-type': 'text/html' } });
/** fetch serving dist/ as a static file server without a .wasm MIME type would. */
const fromDist = async (url: string | URL) => new Response(readFileSync(dist(String(url).split('/').pop()!)), { status: 200 });

afterEach(() => vi.unstubAllGlobals());

describe('browser entry: WASM loading', () => {
  it("a page served instead of the .wasm is SwitchyardError 'backend' naming it; 'auto' warns once and runs the reference", async () => {
    vi.stubGlobal('fetch', vi.fn(htmlPage));
    const error = await createMoE(config, weights, { backend: 'wasm' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SwitchyardError);
    expect(error).toMatchObject({ code: 'backend', argument: 'options.wasmModule' });
    expect(String((error as Error).message)).toMatch(/switchyard-simd\.wasm is not a WebAssembly file \(Content-Type text\/html.*optimizeDeps\.exclude/);

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const first = await route(config.router, { tokens: T, logits }, { backend: 'auto' });
    const second = await route(config.router, { tokens: T, logits }, { backend: 'auto' });
    const want = await route(config.router, { tokens: T, logits }, { backend: 'reference' });
    expect([first.backend, second.backend]).toEqual(['reference', 'reference']);
    expect(Array.from(first.indices)).toEqual(Array.from(want.indices));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/no WASM build loaded.*reference path/);
    warn.mockRestore();
  });

  it('an HTTP error names the URL and status; a later call loads once the file is there', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response('', { status: 404 })));
    await expect(createMoE(config, weights, { backend: 'wasm' })).rejects.toThrow(/switchyard-simd\.wasm failed: HTTP 404/);
    vi.stubGlobal('fetch', vi.fn(fromDist));
    const wasm = await createMoE(config, weights, { backend: 'wasm' });
    const reference = await createMoE(config, weights, { backend: 'reference' });
    const got = await wasm.forward(hidden, { tokens: T });
    const want = await reference.forward(hidden, { tokens: T });
    expect(got.backend).toBe('wasm');
    expect(Array.from(got.routing.indices)).toEqual(Array.from(want.routing.indices));
    // f32 sums of ≤ 8-long dot products against the reference's f64 ones.
    for (let i = 0; i < want.output.length; i++) expect(Math.abs(got.output[i] - want.output[i])).toBeLessThan(1e-5 * (1 + Math.abs(want.output[i])));
  });

  it('the bundle names each .wasm file as a literal new URL(…, import.meta.url), the form bundlers copy', () => {
    const bundle = readFileSync(dist('switchyard.browser.js'), 'utf8');
    for (const file of [...Object.values(WASM_FILES), ...Object.values(WASM_THREAD_FILES)]) {
      expect(bundle, file).toContain(`new URL("./${file}", import.meta.url)`);
      expect(() => readFileSync(dist(file)), file).not.toThrow();
    }
    // A computed name makes Vite copy every file beside the bundle (the CLI, the other runtimes' bundles).
    expect(bundle).not.toMatch(/new URL\(`/);
  });
});

describe('entries that receive their WASM from the bundler or the runtime', () => {
  it("workerd: a .wasm handed over as bytes (declared as data, inlined by a bundler) is named with the setup to fix", async () => {
    const { compiledWasm } = await import('../../ts/entry/compiled-wasm.js');
    const module = await WebAssembly.compile(readFileSync(dist('switchyard-simd.wasm')));
    expect(compiledWasm(module, 'switchyard-simd.wasm')).toBe(module);
    for (const [value, shown] of [[new ArrayBuffer(8), 'ArrayBuffer'], [new Uint8Array(8), 'Uint8Array'], [undefined, 'undefined'], ['x', 'string']] as const) {
      expect(() => compiledWasm(value, 'switchyard-simd.wasm')).toThrow(new RegExp(`the imported switchyard-simd\\.wasm is not a compiled WebAssembly\\.Module \\(received: ${shown}\\): declare \\*\\.wasm files as CompiledWasm`));
    }
  });

  it('browser build without a module URL (bundled into a Worker): says which build to use, not "Invalid URL"', async () => {
    const { besideBundle } = await import('../../ts/entry/beside-bundle.js');
    expect(besideBundle(() => new URL('./a.wasm', 'https://x.test/b/c.js')).href).toBe('https://x.test/b/a.wasm');
    // What `new URL('./file.wasm', import.meta.url)` does where import.meta.url is undefined.
    expect(() => besideBundle(() => new URL('./switchyard-simd.wasm', undefined as unknown as string)))
      .toThrow(/no module URL to find its \.wasm beside \(.*Invalid URL.*\); in Cloudflare Workers bundle with the 'workerd' export condition/);
  });
});
