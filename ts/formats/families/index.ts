// model_type → Family. A Map, so names like "constructor" or "__proto__" cannot hit Object.prototype.
import { SwitchyardError, describe } from '../../errors.js';
import type { Family } from './common.js';
import { deepseekV3 } from './deepseek-v3.js';
import { gptOss } from './gpt-oss.js';
import { granitemoe } from './granitemoe.js';
import { mixtral } from './mixtral.js';
import { olmoe } from './olmoe.js';
import { qwen2Moe } from './qwen2-moe.js';
import { qwen3Moe } from './qwen3-moe.js';
import { switchTransformers } from './switch-transformers.js';

const FAMILIES: ReadonlyMap<string, Family> = new Map([
  ['mixtral', mixtral],
  ['qwen2_moe', qwen2Moe],
  ['qwen3_moe', qwen3Moe],
  ['olmoe', olmoe],
  ['deepseek_v3', deepseekV3],
  ['switch_transformers', switchTransformers],
  ['gpt_oss', gptOss],
  ['granitemoe', granitemoe],
]);

/** The model types switchyard reads. */
export const SUPPORTED_MODEL_TYPES: readonly string[] = [...FAMILIES.keys()];

/** The family of `modelType` (named `modelTypeArgument` in errors), or of config.model_type when it is undefined. */
export function familyOf(config: Record<string, unknown>, modelType?: unknown, modelTypeArgument = 'modelType'): { modelType: string; family: Family } {
  // The file's bytes or text are the usual mistake: say to parse them.
  if (config === null || typeof config !== 'object' || Array.isArray(config) || ArrayBuffer.isView(config) || config instanceof ArrayBuffer) {
    throw new SwitchyardError('config', 'config', `expected the parsed config.json object (JSON.parse of the file's text), got ${describe(config)}`);
  }
  const name = modelType ?? (Object.prototype.hasOwnProperty.call(config, 'model_type') ? config['model_type'] : undefined);
  const family = typeof name === 'string' ? FAMILIES.get(name) : undefined;
  if (family === undefined) {
    // Named as the caller gave it: the modelType option overrides config.model_type.
    const argument = modelType !== undefined ? modelTypeArgument : 'config.model_type';
    throw new SwitchyardError('config', argument, `expected one of ${SUPPORTED_MODEL_TYPES.join(', ')}, got ${describe(name)}`);
  }
  return { modelType: name as string, family };
}
