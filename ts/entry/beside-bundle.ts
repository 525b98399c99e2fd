// Where the browser and Node builds find their .wasm files: beside themselves, by their module URL.

/**
 * The URL of a build beside this bundle. Where the bundle has no module URL to stand beside — bundled into
 * a Cloudflare Worker with the browser or node condition, import.meta.url is undefined there — say which
 * build to use instead of the URL constructor's "Invalid URL".
 */
export function besideBundle(url: () => URL): URL {
  try {
    return url();
  } catch (e) {
    throw new Error(`this switchyard build has no module URL to find its .wasm beside (${e instanceof Error ? e.message : String(e)}); ` +
      "in Cloudflare Workers bundle with the 'workerd' export condition (wrangler does), which imports the .wasm files as modules, or pass options.wasmModule");
  }
}
