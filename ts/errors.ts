// One error class for every failure the library reports, with a stable code callers can switch on.

export type SwitchyardErrorCode = 'shape' | 'dtype' | 'range' | 'config' | 'backend' | 'device-lost' | 'limits';

/**
 * Thrown for bad input, unusable configs and backend failures.
 *
 * @example
 * try { await route(spec, input); }
 * catch (e) { if (e instanceof SwitchyardError && e.code === 'shape') console.error(e.argument, e.message); }
 */
export class SwitchyardError extends Error {
  readonly code: SwitchyardErrorCode;
  /** The argument or field at fault, e.g. 'input.logits' or 'config.router.topK'. */
  readonly argument: string;

  constructor(code: SwitchyardErrorCode, argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'SwitchyardError';
    this.code = code;
    this.argument = argument;
  }
}

/** Describes a received value briefly for error messages (never dumps a whole array). */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) {
    const n = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `${value.constructor.name} of length ${n}`;
  }
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
  return typeof value;
}
