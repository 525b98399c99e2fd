// Result rows and their table. A row is one (case, runtime, backend, variant) measurement; the ratio
// columns compare it with every other row of the same case measured in the same run.

/**
 * @typedef {{ suite: string, case: string, runtime: string, backend: string, variant: string,
 *   median: number | null, mean?: number, mad?: number, samples?: number,
 *   work?: { flops?: number, bytes?: number, tokens?: number }, ours: boolean, note?: string }} Row
 */

/**
 * Throughput of a row in its primary unit: tokens/s for blocks; for GEMMs GB/s when memory-bound
 * (work.primary === 'bytes': reading the weights dominates), else GFLOP/s.
 */
export function throughput(row) {
  if (row.median == null || !row.work) return undefined;
  const s = row.median / 1000;
  const { flops, bytes, tokens, primary } = row.work;
  if (tokens) return { value: tokens / s, unit: 'tok/s' };
  if (bytes && (primary === 'bytes' || !flops)) return { value: bytes / s / 1e9, unit: 'GB/s' };
  if (flops) return { value: flops / s / 1e9, unit: 'GFLOP/s' };
  return undefined;
}

/** Useful work per second, comparable across rows of one case even when their work differs (FFN vs GEMM). */
function rate(row) {
  const w = row.work ?? {};
  return (w.flops ?? w.tokens ?? 1) / row.median;
}

const fmt = (v, digits = 3) => (v == null ? '—' : v >= 100 ? v.toFixed(1) : v.toPrecision(digits));

/**
 * Speed ratio of `row` against each peer row of the same case: our FLOP/s (or tokens/s) over the peer's,
 * which is peer time / our time when both do the same work; > 1 means switchyard is faster.
 * Only switchyard rows get ratio columns.
 */
export function ratios(rows, row) {
  if (!row.ours || row.median == null) return [];
  return rows
    .filter((p) => p !== row && p.case === row.case && !p.ours && p.median != null)
    .map((p) => ({ peer: `${p.runtime}/${p.variant}`, ratio: rate(row) / rate(p) }));
}

function pad(cells, widths) {
  return cells.map((c, i) => (i >= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
}

/** Prints one suite's rows as an aligned table; ratio notes follow each switchyard row. */
export function printTable(title, rows) {
  console.log(`\n== ${title} ==`);
  const header = ['case', 'runtime', 'backend', 'variant', 'median ms', 'throughput', 'speed vs each peer (>1: ours faster)'];
  const body = rows.map((r) => {
    const t = throughput(r);
    const rs = ratios(rows, r).map((x) => `${x.ratio.toFixed(2)}× ${x.peer}`).join(', ');
    return [r.case, r.runtime, r.backend, r.variant, fmt(r.median), t ? `${fmt(t.value)} ${t.unit}` : '—', r.note ? (rs ? `${rs}; ${r.note}` : r.note) : rs];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  widths[6] = 0;
  console.log(pad(header, widths));
  let lastCase;
  for (const b of body) {
    if (lastCase !== undefined && b[0] !== lastCase) console.log('');
    lastCase = b[0];
    console.log(pad(b, widths));
  }
}
