// Runs the registry in one lane and reports each case; used by the Deno, Chromium and workerd runners
// (vitest wraps each case in its own test instead).
import type { CaseContext, CaseResult, ConformanceCase, LaneBackend } from './types.js';

export async function runCases(
  cases: readonly ConformanceCase[],
  backend: LaneBackend,
  context: Omit<CaseContext, 'backend'>,
): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const c of cases) {
    if (!c.backends.includes(backend)) continue;
    const started = Date.now();
    try {
      await c.run({ ...context, backend });
      results.push({ name: c.name, backend, ok: true, ms: Date.now() - started });
    } catch (e) {
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      results.push({ name: c.name, backend, ok: false, message, ms: Date.now() - started });
    }
  }
  return results;
}
