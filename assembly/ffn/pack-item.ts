// One chunk of a projection's packing as a work item, for the threaded load (ts/backends/wasm-pack-threads.ts):
// the host has copied the chunk's rows — as f32, or in their checkpoint's bytes — into memory that every
// thread reads, and described the chunk in PACK_ITEM_BYTES at `desc`. The thread decodes the rows into its own
// staging (widen.ts, apart), packs them into panels (pack-panels.ts) — straight into the expert's slot for
// f32, or into its own scratch that convert.ts turns into f16 / int8 there — and writes the largest |w| back
// into the description. The same calls, on the same rows, as the one-thread packing (wasm-pack.ts): the
// same bits wherever the item runs.
import { convertF16, convertInt8 } from './convert';
import { GATED_COLS } from './layout';
import { packPanels } from './pack-panels';
import { widenBf16, widenF16, widenFp8, widenMxfp4 } from './widen';

/** The rows' encoding (ts/backends/wasm-pack-threads.ts ROW_ENCODING). */
const ROWS_F32: i32 = 0;
const ROWS_BF16: i32 = 1;
const ROWS_F16: i32 = 2;
const ROWS_MXFP4: i32 = 3;
const ROWS_FP8: i32 = 4;

/** Storage of the packed weights. */
const PACK_F16: i32 = 1;
const PACK_INT8: i32 = 2;

/**
 * A description, i32 words: the low rows' encoding, address, scales and columns per scale (FP8); the same of
 * the high rows (address 0: the high columns are the next GATED_COLS rows of the low run); count and len of
 * each run; rowStep, nPanel and K of the panels; the storage, the panels' address and int8's scales; then the
 * largest |w| (f32), written here.
 */
export const PACK_ITEM_BYTES: i32 = 80;

/** A run of `count` rows of `len` values from src (scales at scales) as f32 at dst. */
function decodeRun(encoding: i32, src: usize, scales: usize, count: i32, len: i32, blockCols: i32, dst: usize): void {
  const n = count * len;
  if (encoding == ROWS_BF16) widenBf16(src, n, dst);
  else if (encoding == ROWS_F16) widenF16(src, n, dst);
  else if (encoding == ROWS_MXFP4) widenMxfp4(src, scales, n >> 5, dst);
  else if (encoding == ROWS_FP8) widenFp8(src, scales, count, len, blockCols, dst);
}

/** Run `side` (0 low, 1 high) of the description as f32: where it is, or decoded into `to`. */
function runAt(desc: usize, side: usize, count: i32, len: i32, to: usize): usize {
  const d = desc + (side << 4);
  const encoding = load<i32>(d);
  const src = <usize>load<u32>(d, 4);
  if (encoding == ROWS_F32) return src;
  decodeRun(encoding, src, <usize>load<u32>(d, 8), count, len, load<i32>(d, 12), to);
  return to;
}

/**
 * @param desc     the chunk's description (PACK_ITEM_BYTES)
 * @param staging  this thread's f32 block for the decoded rows (the low run's, then the high run's)
 * @param panels   this thread's f32 panels before f16 / int8 conversion
 */
export function packItem(desc: usize, staging: usize, panels: usize): void {
  const count = load<i32>(desc, 32);
  const len = load<i32>(desc, 36);
  const nPanel = load<i32>(desc, 44);
  const K = load<i32>(desc, 48);
  const dtype = load<i32>(desc, 52);
  const dst = <usize>load<u32>(desc, 56);
  const lo = runAt(desc, 0, count, len, staging);
  let hi: usize;
  let nHi = count;
  if (load<u32>(desc, 20) != 0) {
    hi = runAt(desc, 1, count, len, staging + ((<usize>count * <usize>len) << 2));
  } else {
    hi = lo + (<usize>GATED_COLS * <usize>len << 2);
    nHi = count - GATED_COLS;
  }
  const out = dtype == PACK_F16 || dtype == PACK_INT8 ? panels : dst;
  const amax = packPanels(lo, count, hi, nHi, load<i32>(desc, 40), nPanel, len, K, out);
  if (dtype == PACK_F16) convertF16(panels, nPanel, K, dst);
  else if (dtype == PACK_INT8) convertInt8(panels, nPanel, K, dst, <usize>load<u32>(desc, 60));
  store<f32>(desc, amax, 64);
}
