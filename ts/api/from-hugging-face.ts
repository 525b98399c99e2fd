// fromHuggingFace(): a MoE block from a Hugging Face config.json and checkpoint tensors.
import { huggingFaceToCanonical, type HuggingFaceArgs } from '../formats/huggingface.js';
import type { MoE, RuntimeOptions } from '../spec/types.js';
import { buildMoE } from './create-moe.js';

/**
 * Builds the MoE block of one layer from a parsed config.json and its tensors, named as in the
 * checkpoint (fused transformers-v5 names or per-expert names on disk), found under `prefix`.
 *
 * @example
 * const file = readSafetensors(bytes);
 * const moe = await fromHuggingFace({ config, tensors: file, prefix: 'model.layers.0.block_sparse_moe.' });
 */
export async function fromHuggingFace(args: HuggingFaceArgs, options?: RuntimeOptions): Promise<MoE> {
  const { config, weights } = huggingFaceToCanonical(args);
  return buildMoE(config, weights, options);
}
