// A checkpoint's FP8 weight (formats/fp8.ts) as the families take it: its bytes checked and kept, its scales
// found beside it under either convention, and a deferred tensor that dequantises rows when a path reads them.
import { SwitchyardError, describe } from '../../errors.js';
import type { CheckpointTensor } from '../../spec/types.js';
import { allFinite } from '../../spec/check.js';
import { sameShape, shapeSize, tensorShape, toFloat32 } from '../dtype.js';
import { checkBlockFp8, Fp8Rows, fp8BlockSize, scaleShape } from '../fp8.js';
import { DeferredTensor } from '../deferred-tensor.js';
import type { FamilyContext } from './common.js';

/**
 * An FP8 weight (fp8.ts) as f32: its bytes, of `shape`, with their scales (f32 or bf16) — block-wise,
 * `<name>_scale_inv` on the grid of config.json's quantization_config.weight_block_size (DeepSeek-V3, Qwen3
 * -FP8); or, for a matrix, `<name>_scale`, one per tensor or one per output row (compressed-tensors'
 * float-quantized checkpoints), which are blocks of the whole matrix or of one row.
 */
export function takeFp8(ctx: FamilyContext, full: string, t: Exclude<CheckpointTensor, Float32Array>, shape: readonly number[]): DeferredTensor {
  if (shape.length < 2) {
    throw new SwitchyardError('dtype', full, `expected f32, f16 or bf16 for a tensor [${shape.join(', ')}], got f8_e4m3`);
  }
  if (!(t.data instanceof Uint8Array)) {
    throw new SwitchyardError('dtype', full, `expected f8_e4m3 data as bytes (a Uint8Array), got ${describe(t.data)}`);
  }
  if (!sameShape(t.shape, shape) || t.data.length !== shapeSize(shape)) {
    throw new SwitchyardError('shape', full, `expected f8_e4m3 [${shape.join(', ')}] (${shapeSize(shape)} bytes), got [${tensorShape(t).join(', ')}] in ${t.data.length} bytes`);
  }
  const [rows, cols] = shape.slice(-2);
  const blockName = `${full}_scale_inv`;
  const plainName = `${full}_scale`;
  const blockScale = ctx.source.get(blockName);
  const plainScale = blockScale === undefined && shape.length === 2 ? ctx.source.get(plainName) : undefined;
  let block: [number, number];
  let scaleName: string;
  let scales: Float32Array;
  if (plainScale !== undefined) {
    scaleName = plainName;
    scales = toFloat32(plainScale, scaleName);
    if (scales.length !== 1 && scales.length !== rows) {
      throw new SwitchyardError('shape', scaleName, `expected one scale ([] or [1]) or one per row ([${rows}, 1]), got [${tensorShape(plainScale).join(', ')}]`);
    }
    block = scales.length === 1 ? [rows, cols] : [1, cols];
  } else {
    block = fp8BlockSize(ctx.config);
    scaleName = blockName;
    const grid = scaleShape(shape, block);
    if (blockScale === undefined) {
      throw new SwitchyardError('shape', scaleName,
        `expected the scales of the f8_e4m3 weight ${full}: ${blockName} [${grid.join(', ')}]${shape.length === 2 ? ` or ${plainName}` : ''}, got neither`);
    }
    // Read first: toFloat32 refuses, by name, what is not a tensor at all (null, a number, a shapeless object).
    scales = toFloat32(blockScale, scaleName);
    if (blockScale instanceof Float32Array ? blockScale.length !== shapeSize(grid) : !sameShape(blockScale.shape, grid)) {
      throw new SwitchyardError('shape', scaleName,
        `expected [${grid.join(', ')}] (blocks of ${block.join(' × ')}, quantization_config.weight_block_size), got [${tensorShape(blockScale).join(', ')}]`);
    }
  }
  allFinite(scales, scaleName, `[${scales.length}]`);
  // NaN bytes and products past f32 refused now, under the checkpoint's name; the rest is read when needed.
  // The caller's bytes until the block takes its own copy (DeferredTensor.own).
  const bytes = t.data;
  let fp8 = new Fp8Rows(bytes, scales, shape, block);
  checkBlockFp8(fp8, bytes, shape, full);
  return new DeferredTensor(shape, (r0, r1, out, at) => {
    for (let r = r0; r < r1; r++) fp8.read(r, out, at + (r - r0) * cols);
  }, {
    encoding: 'fp8',
    blockCols: block[1],
    read: (r0, r1, run, row0) => {
      for (let r = r0; r < r1; r++) fp8.copyRow(r, run, row0 + r - r0);
    },
  }, () => {
    fp8 = new Fp8Rows(bytes.slice(), scales.slice(), shape, block);
  });
}
