// options.threads: what it means, and whether this runtime can honour it.
//
// threads = how many threads the WASM path splits the experts' work over, the calling thread included.
// Default 1: no workers, nothing shared, the behaviour every earlier version had. More threads need
//   - SharedArrayBuffer and a shared WebAssembly.Memory (Node, Deno, cross-origin-isolated pages),
//   - a way to start workers, registered by the runtime's entry (none in workerd).
// Where either is missing, threads > 1 runs on 1 thread with the same code and says why once (console.warn).
// A calling thread that may not block in Atomics.wait (a browser window's main thread) still runs
// threaded: forward() then awaits the workers instead of blocking (WasmBackend.runExpertsAsync).
// The result does not depend on the thread count: bit for bit the same output (wasm-threads.ts).
import { SwitchyardError, describe } from '../errors.js';
import { MAX_THREADS } from '../backends/wasm-pool.js';
import { getThreadProvider, type ThreadProvider, type WasmBuild } from './providers.js';
import { relaxedSimdSupported } from './wasm-module.js';

/** options.threads validated: an integer in [1, MAX_THREADS], 1 when absent. */
export function threadsOption(value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_THREADS) {
    throw new SwitchyardError('config', 'options.threads',
      `expected an integer from 1 to ${MAX_THREADS} (threads for the wasm experts, the calling one included), received ${describe(value)}`);
  }
  return value;
}

export type ThreadSupport = { provider: ThreadProvider; reason?: undefined } | { provider?: undefined; reason: string };

/** The runtime's thread provider, or why threads cannot run here. `scope` lets tests simulate runtimes. */
export function threadSupport(scope: { SharedArrayBuffer?: unknown } = globalThis): ThreadSupport {
  if (typeof scope.SharedArrayBuffer !== 'function') {
    return { reason: 'SharedArrayBuffer is not available (browsers: serve the page cross-origin isolated)' };
  }
  const provider = getThreadProvider();
  if (!provider) return { reason: 'this runtime cannot start workers for switchyard (no thread provider registered: workerd has none)' };
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return { reason: `this engine cannot create a shared WebAssembly.Memory (${String(e)})` };
  }
  return { provider };
}

const modules = new Map<WasmBuild, Promise<WebAssembly.Module>>();

/** The shared-memory build this engine runs best (relaxed SIMD where it validates), compiled once. */
export function loadThreadsModule(provider: ThreadProvider): Promise<WebAssembly.Module> {
  const build: WasmBuild = relaxedSimdSupported() ? 'relaxed-simd' : 'simd128';
  let pending = modules.get(build);
  if (!pending) {
    pending = provider.loadModule(build);
    modules.set(build, pending);
    pending.catch(() => modules.delete(build));
  }
  return pending;
}

const warned = new Set<string>();

/** Says once per reason that options.threads could not be honoured. */
export function warnThreadsFallback(threads: number, reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  console.warn(`switchyard: options.threads = ${threads} runs on 1 thread: ${reason}`);
}
