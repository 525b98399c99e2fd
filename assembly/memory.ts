// The host owns all of linear memory above the module's static data: it runs its own allocator there
// and grows the memory as needed, so the module needs no runtime allocator (built with --runtime stub).

/** First byte the host may use. */
export function heapBase(): usize {
  return __heap_base;
}
