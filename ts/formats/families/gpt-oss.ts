// GPT-OSS (model_type "gpt_oss"): top-k on the raw logits + router bias, softmax over the k (= softmax,
// top-k, renormalise); experts with biases and the clamped SwiGLU (1 + clamp(up, ±limit)) · g · σ(α g),
// g = min(gate, limit), α = 1.702 (hard-coded), limit = swiglu_limit.
// Source: transformers models/gpt_oss/modeling_gpt_oss.py (GptOssMLP, GptOssTopKRouter, GptOssExperts).
// Names relative to "model.layers.N.mlp.": router.weight [E, d], router.bias [E];
// experts.gate_up_proj [E, d, 2·dFF] used as x · W with gate / up INTERLEAVED along the last axis (even
// columns gate, odd up), experts.gate_up_proj_bias [E, 2·dFF] interleaved likewise;
// experts.down_proj [E, dFF, d] used as h · W, experts.down_proj_bias [E, d].
// The released checkpoints (openai/gpt-oss-20b, -120b) store both projections as MXFP4 instead (mxfp4.ts):
// experts.gate_up_proj_blocks [E, 2·dFF, d / 32, 16] and _scales [E, 2·dFF, d / 32], rows interleaved
// gate / up as the fused tensor's columns are; experts.down_proj_blocks [E, d, dFF / 32, 16] and _scales
// [E, d, dFF / 32]: each the transpose of the fused tensor (transformers' convert_moe_packed_tensors
// dequantises, then swaps the last two axes). Either form is read, per projection; biases stay bf16.
// Every decoder layer is a MoE layer.

import { SwitchyardError } from '../../errors.js';
import { routers } from '../../routing/presets.js';
import { checkMxfp4, Mxfp4Rows, MXFP4_BLOCK } from '../mxfp4.js';
import { DeferredTensor } from '../deferred-tensor.js';
import { markFinite } from '../../spec/check.js';
import {
  expertSizes, configNumberOr, decoderPrefixes, everyDecoderLayer, hasTensor, takeF32, takeU8,
  type CanonicalMoE, type Family, type FamilyContext,
} from './common.js';

/** modeling_gpt_oss hard-codes alpha = 1.702 in GptOssExperts. */
const SWIGLU_ALPHA = 1.702;

/**
 * The blocks and scales of a projection stored as MXFP4 (`name`_blocks / _scales, [E, rows, cols / 32, …]:
 * rows the output features, cols the input ones), checked; or undefined when the layer holds the fused
 * tensor `name` instead.
 */
function mxfp4Projection(ctx: FamilyContext, name: string, nExpert: number, rows: number, cols: number): { blocks: Uint8Array; scales: Uint8Array; argument: string } | undefined {
  if (hasTensor(ctx, name) || !hasTensor(ctx, `${name}_blocks`)) return undefined;
  const argument = `${ctx.prefix}${name}_blocks`;
  if (cols % MXFP4_BLOCK !== 0) {
    throw new SwitchyardError('shape', argument, `expected MXFP4 rows of whole blocks of ${MXFP4_BLOCK}, got rows of ${cols} values`);
  }
  const nBlock = cols / MXFP4_BLOCK;
  const blocks = takeU8(ctx, `${name}_blocks`, [nExpert, rows, nBlock, MXFP4_BLOCK / 2]);
  const scales = takeU8(ctx, `${name}_scales`, [nExpert, rows, nBlock]);
  return { blocks, scales, argument };
}

/**
 * The projection's rows, dequantised on demand from its bytes (checked by checkMxfp4): the caller's until
 * own() — DeferredTensor.own of a tensor reading them — swaps in a copy (once, for all its tensors).
 */
function mxfp4Rows(mx: { blocks: Uint8Array; scales: Uint8Array; argument: string }, cols: number): { rows: () => Mxfp4Rows; own: () => void } {
  checkMxfp4(mx.blocks, mx.scales, mx.argument);
  let rows = new Mxfp4Rows(mx.blocks, mx.scales, cols, mx.argument);
  let owned = false;
  return {
    rows: () => rows,
    own: () => {
      if (owned) return;
      owned = true;
      rows = new Mxfp4Rows(mx.blocks.slice(), mx.scales.slice(), cols, mx.argument);
    },
  };
}

const finite = (w: Float32Array | DeferredTensor): Float32Array | DeferredTensor => (w instanceof Float32Array ? markFinite(w) : w);

function convert(ctx: FamilyContext): CanonicalMoE {
  const { config } = ctx;
  const { dModel, dFF, nExpert, topK } = expertSizes(config, 'num_local_experts', 'intermediate_size');
  // GptOssConfig's default. transformers' eager GptOssExperts hard-codes 7.0 whatever the config says; OpenAI's
  // reference model and transformers' MXFP4 path read swiglu_limit, as here. Released configs all say 7.0.
  const limit = configNumberOr(config, 'swiglu_limit', 7);
  const gateUpMx = mxfp4Projection(ctx, 'experts.gate_up_proj', nExpert, 2 * dFF, dModel);
  const gateUp = gateUpMx ? undefined : takeF32(ctx, 'experts.gate_up_proj', [nExpert, dModel, 2 * dFF]); // [E, d, 2·dFF]
  const gateUpBias = takeF32(ctx, 'experts.gate_up_proj_bias', [nExpert, 2 * dFF]); // [E, 2·dFF]
  const downMx = mxfp4Projection(ctx, 'experts.down_proj', nExpert, dModel, dFF);
  const downIn = downMx ? undefined : takeF32(ctx, 'experts.down_proj', [nExpert, dFF, dModel]); // [E, dFF, d]

  const gateBias = new Float32Array(nExpert * dFF); // [E, dFF]
  const upBias = new Float32Array(nExpert * dFF); // [E, dFF]
  // MXFP4 projections stay bytes (the caller's, until the block copies them: DeferredTensor.own),
  // dequantised by rows when a path reads them. Their rows are the canonical layout already: down [E, d, dFF] as it
  // comes; gate / up row f of expert e is row 2f / 2f + 1 of the expert's fused rows.
  let gate: Float32Array | DeferredTensor;
  let up: Float32Array | DeferredTensor;
  if (gateUpMx) {
    const fused = mxfp4Rows(gateUpMx, dModel);
    const fusedRow = (r: number, second: number) => {
      const e = Math.floor(r / dFF);
      return e * 2 * dFF + 2 * (r - e * dFF) + second;
    };
    const half = (second: number) => new DeferredTensor([nExpert, dFF, dModel], (r0, r1, out, at) => {
      const rows = fused.rows();
      for (let r = r0; r < r1; r++) rows.read(fusedRow(r, second), out, at + (r - r0) * dModel);
    }, {
      encoding: 'mxfp4',
      read: (r0, r1, run, row0) => {
        const rows = fused.rows();
        for (let r = r0; r < r1; r++) rows.copyRow(fusedRow(r, second), run, row0 + r - r0);
      },
    }, fused.own);
    gate = half(0);
    up = half(1);
  } else {
    gate = new Float32Array(nExpert * dFF * dModel); // [E, dFF, d]
    up = new Float32Array(nExpert * dFF * dModel);
  }
  let down: Float32Array | DeferredTensor;
  if (downMx) {
    const source = mxfp4Rows(downMx, dFF);
    down = new DeferredTensor([nExpert, dModel, dFF], (r0, r1, out, at) => {
      const rows = source.rows();
      for (let r = r0; r < r1; r++) rows.read(r, out, at + (r - r0) * dFF);
    }, {
      encoding: 'mxfp4',
      read: (r0, r1, run, row0) => {
        const rows = source.rows();
        for (let r = r0; r < r1; r++) rows.copyRow(r, run, row0 + r - r0);
      },
    }, source.own);
  } else {
    down = new Float32Array(nExpert * dModel * dFF); // [E, d, dFF]
  }
  for (let e = 0; e < nExpert; e++) {
    if (gateUp && gate instanceof Float32Array && up instanceof Float32Array) {
      for (let i = 0; i < dModel; i++) {
        const row = (e * dModel + i) * 2 * dFF; // gate_up_proj[e][i][·]
        for (let f = 0; f < dFF; f++) {
          gate[(e * dFF + f) * dModel + i] = gateUp[row + 2 * f];
          up[(e * dFF + f) * dModel + i] = gateUp[row + 2 * f + 1];
        }
      }
    }
    for (let f = 0; f < dFF; f++) {
      gateBias[e * dFF + f] = gateUpBias[(e * dFF + f) * 2];
      upBias[e * dFF + f] = gateUpBias[(e * dFF + f) * 2 + 1];
      if (downIn && down instanceof Float32Array) for (let o = 0; o < dModel; o++) down[(e * dModel + o) * dFF + f] = downIn[(e * dFF + f) * dModel + o];
    }
  }
  return {
    config: {
      dModel,
      router: routers.gptOss({ E: nExpert, k: topK }),
      expert: { dFF, activation: 'swiglu-oai', bias: true, alpha: SWIGLU_ALPHA, limit },
    },
    weights: {
      'router.weight': takeF32(ctx, 'router.weight', [nExpert, dModel]),
      'router.bias': takeF32(ctx, 'router.bias', [nExpert]),
      // Deferred MXFP4 (finite: checkMxfp4 refused the rest) or copies of tensors takeF32 checked.
      'experts.gate': finite(gate),
      'experts.up': finite(up),
      'experts.down': finite(down),
      'experts.gate_bias': markFinite(gateBias),
      'experts.up_bias': markFinite(upBias),
      'experts.down_bias': takeF32(ctx, 'experts.down_proj_bias', [nExpert, dModel]),
    },
  };
}

export const gptOss: Family = { convert, moeLayers: everyDecoderLayer, layerPrefixes: decoderPrefixes('mlp') };
