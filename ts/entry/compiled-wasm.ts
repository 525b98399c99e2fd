// workerd hands a `.wasm` import over compiled only when the worker declares it so; checked where it is used.

/**
 * The imported build, which must have arrived compiled: a bundler that inlined the file as bytes, or a
 * config that declared it as data, hands over something workerd will not compile ("code generation
 * disallowed by embedder") — said here in terms of the setup to fix.
 */
export function compiledWasm(module: unknown, file: string): WebAssembly.Module {
  if (module instanceof WebAssembly.Module) return module;
  const got = module === null ? 'null' : typeof module === 'object' ? (module as object).constructor?.name ?? 'object' : typeof module;
  throw new Error(`the imported ${file} is not a compiled WebAssembly.Module (received: ${got}): declare *.wasm files ` +
    "as CompiledWasm modules (wrangler's default rule; a 'wasm' module in workerd's config), since workerd cannot compile WASM from bytes");
}
