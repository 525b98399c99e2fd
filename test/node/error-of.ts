// Test helper: what a call throws, as [code, argument] of its SwitchyardError; undefined when it returns.
// Anything else thrown fails the test (it propagates).
import { SwitchyardError } from '../../ts/errors.js';

export function errorOf(fn: () => unknown): [string, string] | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof SwitchyardError) return [e.code, e.argument];
    throw e;
  }
  return undefined;
}
