// A weight whose f32 values are made when they are read: a checkpoint tensor kept in its own format (bf16,
// f16, GPT-OSS's MXFP4, block FP8). fromHuggingFace hands createMoE one where a float tensor would
// go; createMoE checks its shape without reading it, and the expert paths read it a run of rows at a time
// (wasm packs its panels from such runs, WebGPU uploads a binding group from one, so an f32 copy of the whole
// tensor is never made) or whole (the reference).
// Not part of the public API: only this library makes one, and its reader yields finite values or throws.

/** Rows [r0, r1) of a tensor seen as [rows, cols] (every dim but the last, the last), as f32 into out[at ..]. */
export type RowReader = (r0: number, r1: number, out: Float32Array, at: number) => void;

/** The same rows of a bf16 tensor as their bits into out[at ..], for a path that widens them itself (wasm). */
export type Bf16RowReader = (r0: number, r1: number, out: Uint16Array, at: number) => void;

export class DeferredTensor {
  readonly rows: number;
  readonly cols: number;
  private whole: Float32Array | undefined;

  private owned = false;

  /**
   * @param read must leave in `out` only finite values (the weight checks skip a deferred tensor)
   * @param readBf16 where the tensor is bf16: its bits, which `read` widens
   * @param ownSource replaces the caller's bytes the readers read with a copy (see own())
   */
  constructor(readonly shape: readonly number[], readonly read: RowReader, readonly readBf16?: Bf16RowReader,
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
