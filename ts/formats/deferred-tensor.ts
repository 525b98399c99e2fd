// A weight whose f32 values are made when they are read: a checkpoint tensor kept in its own format (bf16,
// f16, GPT-OSS's MXFP4, block FP8). fromHuggingFace hands createMoE one where a float tensor would
// go; createMoE checks its shape without reading it, and the expert paths read it a run of rows at a time
// (wasm packs its panels from such runs, WebGPU uploads a binding group from one, so an f32 copy of the whole
// tensor is never made) or whole (the reference).
// Not part of the public API: only this library makes one, and its reader yields finite values or throws.

/** Rows [r0, r1) of a tensor seen as [rows, cols] (every dim but the last, the last), as f32 into out[at ..]. */
export type RowReader = (r0: number, r1: number, out: Float32Array, at: number) => void;

/**
 * A run of rows in a checkpoint's own bytes, as a path that decodes them itself (wasm) lays it out in `bytes`
 * (and `f32`, a view of the same memory): row i of the run at byte `at` + i · (bytes a row), and where the
 * encoding has scales, row i's at byte `scalesAt` + i · (bytes of a row's scales).
 */
export interface EncodedRun {
  bytes: Uint8Array;
  f32: Float32Array;
  at: number;
  scalesAt: number;
}

/**
 * The same rows in their checkpoint encoding, rows [r0, r1) into run rows row0, row0 + 1, …:
 *   bf16, f16: 2 bytes a value;
 *   mxfp4: formats/mxfp4.ts, cols / 2 bytes of values and cols / 32 scale bytes a row;
 *   fp8:   formats/fp8.ts, cols e4m3 bytes and ceil(cols / blockCols) f32 scales a row (its blocks' scales).
 */
export interface EncodedRows {
  readonly encoding: 'bf16' | 'f16' | 'mxfp4' | 'fp8';
  /** fp8: columns per scale along a row */
  readonly blockCols?: number;
  read(r0: number, r1: number, run: EncodedRun, row0: number): void;
}

export class DeferredTensor {
  readonly rows: number;
  readonly cols: number;
  private whole: Float32Array | undefined;

  private owned = false;

  /**
   * @param read must leave in `out` only finite values (the weight checks skip a deferred tensor)
   * @param encoded where the path may decode them itself: the rows' bytes, which `read` decodes
   * @param ownSource replaces the caller's bytes the readers read with a copy (see own())
   */
  constructor(readonly shape: readonly number[], readonly read: RowReader, readonly encoded?: EncodedRows,
    private readonly ownSource?: () => void) {
    this.cols = shape.length === 0 ? 1 : shape[shape.length - 1];
    this.rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  }

  /**
   * Reads from a copy of the caller's bytes from now on. Until then it reads the caller's own: a block whose
   * paths pack everything before createMoE returns never needs the copy (a bf16 layer's largest cost after
   * the packing itself); one that may read again later (it has a GPU path, whose lost device re-binds the
   * experts on the CPU) calls this before returning, so the caller may reuse its buffers.
   */
  own(): void {
    if (this.owned) return;
    this.owned = true;
    this.ownSource?.();
  }

  /** Every value, made on the first call and kept (for the paths that take the whole tensor). */
  values(): Float32Array {
    if (!this.whole) {
      const whole = new Float32Array(this.rows * this.cols);
      this.read(0, this.rows, whole, 0);
      this.whole = whole;
    }
    return this.whole;
  }
}
