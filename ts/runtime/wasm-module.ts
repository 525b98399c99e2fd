// Chooses and loads the WASM build: relaxed-SIMD (FMA) where the engine validates it, plain SIMD128
// otherwise. An injected module (workerd forbids compiling from bytes; tests pass their own) always wins.
import { SwitchyardError } from '../errors.js';
import { getWasmModuleLoader, type WasmBuild } from './providers.js';

/**
 * The smallest module using a relaxed-SIMD opcode: one function () -> v128 returning
 * f32x4.relaxed_madd(0, 0, 0). Engines without relaxed SIMD reject it in validation.
 */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: [func () -> v128]
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code section (61 bytes): one body of 59 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105, LEB128)
  0x0b, // end
]);

let relaxedSupported: boolean | undefined;

/** Whether this engine accepts relaxed-SIMD opcodes (validated once, then cached). */
export function relaxedSimdSupported(): boolean {
  relaxedSupported ??= WebAssembly.validate(RELAXED_PROBE);
  return relaxedSupported;
}

/** The bytes of the relaxed-SIMD probe, so tests can check the detection against a real build. */
export function relaxedSimdProbe(): Uint8Array<ArrayBuffer> {
  return RELAXED_PROBE.slice();
}

export interface LoadedWasmModule {
  module: WebAssembly.Module;
  build: WasmBuild;
}

const moduleCache = new Map<WasmBuild, Promise<WebAssembly.Module>>();
const injectedBuilds = new WeakMap<WebAssembly.Module, WasmBuild>();

/** Which build a module is, asked from the module itself (its `relaxed()` export). */
async function buildOf(module: WebAssembly.Module): Promise<WasmBuild> {
  const known = injectedBuilds.get(module);
  if (known !== undefined) return known;
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, {});
  } catch (e) {
    throw new SwitchyardError('backend', 'options.wasmModule',
      `expected a switchyard WASM module that instantiates without imports, instantiation failed: ${String(e)}`);
  }
  const relaxed = instance.exports.relaxed;
  if (typeof relaxed !== 'function') {
    throw new SwitchyardError('backend', 'options.wasmModule',
      'expected a switchyard WASM module exporting relaxed(), received a module without it');
  }
  const build: WasmBuild = (relaxed as () => number)() === 1 ? 'relaxed-simd' : 'simd128';
  injectedBuilds.set(module, build);
  return build;
}

function loadBuild(build: WasmBuild): Promise<WebAssembly.Module> {
  let pending = moduleCache.get(build);
  if (pending === undefined) {
    const loader = getWasmModuleLoader();
    if (loader === undefined) {
      throw new SwitchyardError('backend', 'options.wasmModule',
        'expected an injected WebAssembly.Module or a registered WASM loader (import switchyard through its entry point), received neither');
    }
    pending = loader(build);
    moduleCache.set(build, pending);
    // A failed load must not poison the cache: the next call tries again.
    pending.catch(() => moduleCache.delete(build));
  }
  return pending;
}

/**
 * The WASM module to run: the injected one if given, else the best build this engine supports.
 * Falls back from relaxed-SIMD to SIMD128 if the relaxed build fails to load.
 */
export async function loadWasmModule(options: { wasmModule?: WebAssembly.Module }): Promise<LoadedWasmModule> {
  if (options.wasmModule !== undefined) {
    return { module: options.wasmModule, build: await buildOf(options.wasmModule) };
  }
  if (relaxedSimdSupported()) {
    try {
      return { module: await loadBuild('relaxed-simd'), build: 'relaxed-simd' };
    } catch (e) {
      if (e instanceof SwitchyardError) throw e;
    }
  }
  try {
    return { module: await loadBuild('simd128'), build: 'simd128' };
  } catch (e) {
    if (e instanceof SwitchyardError) throw e;
    // A fetch that 404s or a server's HTML fallback page (a bundler that did not copy the .wasm files)
    // surfaces here; say what was being loaded and how to bypass the loader.
    throw new SwitchyardError('backend', 'options.wasmModule',
      `expected switchyard's WASM build to load from beside its bundle, or a compiled WebAssembly.Module in options.wasmModule; loading the simd128 build failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
