// What moe.config reports: the caller's config as it was at createMoE, not the caller's live object.
import type { MoEConfig } from './types.js';

/** config → router → groups / capacity: plain objects deeper than this are extra fields, kept as given. */
const MAX_DEPTH = 3;

/**
 * A frozen copy of the config's plain objects, its arrays shared: a caller who changes its own objects
 * after createMoE changes neither what the block runs nor what it reports, and writing to moe.config
 * throws (in strict code) rather than pretending to retune the block. The arrays stay the block's own —
 * router.selectionBias above all, which every call reads as it stands, so that updateExpertBias on it
 * steers the next forward. `selectionBias`: a bias the block took as a weight (router.selection_bias,
 * DeepSeek-V3's e_score_correction_bias), shown at config.router.selectionBias as the same array.
 */
export function configSnapshot(config: MoEConfig, selectionBias: Float32Array | undefined): MoEConfig {
  const copy = copyPlain(config, 0) as MoEConfig;
  if (selectionBias && copy.router.kind === 'topk' && copy.router.selectionBias === undefined) {
    (copy.router as { selectionBias?: Float32Array }).selectionBias = selectionBias;
  }
  return freezePlain(copy, 0);
}

function isPlain(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function copyPlain(value: unknown, depth: number): unknown {
  if (!isPlain(value) || depth > MAX_DEPTH) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = copyPlain(value[key], depth + 1);
  return out;
}

function freezePlain<T>(value: T, depth: number): T {
  if (!isPlain(value) || depth > MAX_DEPTH) return value;
  for (const key of Object.keys(value)) freezePlain(value[key], depth + 1);
  return Object.freeze(value);
}
