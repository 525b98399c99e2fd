// The small pieces every kernel's host side shares: a token substitution over WGSL text that refuses
// to guess, uniform structs defined once in TypeScript (the WGSL declaration and the byte packing both
// derive from one field list, so they cannot drift apart), and grid folding past the per-dimension limit.
import { SwitchyardError } from '../errors.js';

/**
 * Replaces every `{{NAME}}` in `source` with `values[NAME]`. Throws when the source names a token
 * that `values` lacks, when a value is never used (a stale caller), or when a token is left over.
 */
export function substitute(kernel: string, source: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const out = source.replace(/\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g, (_, name: string) => {
    if (!(name in values)) {
      throw new SwitchyardError('backend', `gpu/${kernel}.wgsl`, `unknown token {{${name}}}`);
    }
    used.add(name);
    return values[name];
  });
  for (const name of Object.keys(values)) {
    if (!used.has(name)) {
      throw new SwitchyardError('backend', `gpu/${kernel}.wgsl`, `token {{${name}}} given but not in the source`);
    }
  }
  if (/\{\{|\}\}/.test(out)) {
    throw new SwitchyardError('backend', `gpu/${kernel}.wgsl`, 'malformed token left after substitution');
  }
  return out;
}

export type ScalarType = 'u32' | 'i32' | 'f32';

/** A uniform struct of 4-byte scalars: WGSL alignment is then just 4 × field index, size rounded to 16. */
export interface ParamsStruct<F extends string> {
  readonly name: string;
  readonly fields: readonly (readonly [F, ScalarType])[];
  /** The WGSL declaration, substituted for the `{{PARAMS}}` token. */
  readonly wgsl: string;
  readonly byteSize: number;
  pack(values: Record<F, number>): ArrayBuffer;
}

export function defineParams<F extends string>(name: string, fields: readonly (readonly [F, ScalarType])[]): ParamsStruct<F> {
  const wgsl = `struct ${name} {\n${fields.map(([f, t]) => `  ${f}: ${t},`).join('\n')}\n}`;
  // Uniform buffers bind in multiples of 16 bytes (a struct's size rounds up to its 16-byte alignment).
  const byteSize = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  return {
    name,
    fields,
    wgsl,
    byteSize,
    pack(values) {
      const buf = new ArrayBuffer(byteSize);
      const view = new DataView(buf);
      fields.forEach(([f, t], i) => {
        const v = values[f];
        if (!Number.isFinite(v)) throw new SwitchyardError('backend', `${name}.${f}`, `expected a finite number, got ${v}`);
        if (t === 'f32') view.setFloat32(4 * i, v, true);
        else if (t === 'u32') view.setUint32(4 * i, v, true);
        else view.setInt32(4 * i, v, true);
      });
      return buf;
    },
  };
}

/**
 * Folds a linear workgroup count into (x, y) so that x stays within the per-dimension limit; kernels
 * recover the linear id as wg.x + wg.y · num_workgroups.x and exit when it is past the real count.
 */
export function foldGrid(nWorkgroup: number, maxPerDim: number): [number, number] {
  if (nWorkgroup <= maxPerDim) return [Math.max(1, nWorkgroup), 1];
  const y = Math.ceil(nWorkgroup / maxPerDim);
  if (y > maxPerDim) throw new SwitchyardError('limits', 'grid', `${nWorkgroup} workgroups exceed ${maxPerDim}² `);
  return [Math.ceil(nWorkgroup / y), y];
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}

/**
 * One WGSL kernel as the host sees it: its substituted source, its uniform struct, and its bindings in
 * @binding order (binding 0 is always the uniform `params`), so bind groups are built by name.
 */
export interface KernelSpec<F extends string, B extends string> {
  /** The file stem and entry point, e.g. 'expert_ffn_up'. */
  readonly name: string;
  readonly code: string;
  readonly params: ParamsStruct<F>;
  readonly bindings: readonly ('params' | B)[];
}
