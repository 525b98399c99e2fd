// How the threaded path (wasm-threads.ts) cuts a plan's experts into work items for the threads, two ways:
//   by rows     an expert with many rows: (expert, row range) items, each running both projections on its
//               rows — every item streams all of the expert's weights, which its rows share;
//   by columns  an expert with few rows: cut by rows, each thread would stream all of the weights for a
//               handful of rows (two threads, twice the traffic, and M = 64 makes just two items). Instead
//               phase 1 splits the gate/up panels (h columns) over the threads, every item for all of the
//               expert's rows, into one h the threads share; phase 2, once phase 1 is done, splits the
//               down panels (y columns), every item reading all of h. The weights are read once in all.
// Phase 1 holds the row items and the gate/up column items, phase 2 the down column items (none when no
// expert is split by columns); the host runs each phase as one job of the pool (wasm-pool.ts), so the
// end of phase 1 is the barrier phase 2 needs.
//
// Same answer, bit for bit, as one pass (assembly/ffn/experts.ts): a row item starts on a multiple of 4
// rows from its expert's first row, so it cuts no row tile; a column item starts on a multiple of 4
// panels and ends on one or at the last panel, so the single-row kernel that streams four panels at once
// (row1x32) and its one-panel tail (row1x8) get the same panels as in one pass. Every output column is
// then one kernel's sum over the same tile, in the same order. Which thread runs an item changes nothing.

/** Item kinds (assembly/ffn/experts.ts ITEM_*). */
export const ITEM_ROWS = 0;
export const ITEM_GATE_UP = 1;
export const ITEM_DOWN = 2;
/** Words of one item: kind, expert, first plan row, end plan row, first panel, end panel, h (see WorkItems). */
export const ITEM_WORDS = 7;

/**
 * Rows per row item: at least MIN_ITEM_ROWS, so each item's pass over its expert's weights (which every item
 * of an expert repeats) is shared by enough rows to stay compute-bound (~16 FLOP per f32 weight byte at
 * 32 rows); at most MAX_ITEM_ROWS, so no item runs for long (balance at the end of a job, and the pool's
 * watchdog); in between, about ROW_ITEMS_PER_THREAD items per thread of the job's rows. Many items keep
 * the threads' ends close when one of them loses its core for a while (a busy machine): the others go on
 * taking items meanwhile. Measured, 2 threads, one process, both cuts (expert FFN, M 256 and 512, K×N
 * 1024×512 and 2048×1408, 20 paired runs): 8 items per thread instead of 2 took 0.95× the time (median),
 * faster in 15 of 20.
 */
const MIN_ITEM_ROWS = 32;
const MAX_ITEM_ROWS = 256;
const ROW_ITEMS_PER_THREAD = 8;
/**
 * When the column split runs ('auto'): for an expert whose row items would be memory-bound — cut into
 * parts of fewer than MIN_ITEM_ROWS rows, each streaming all of its weights — or when the row split
 * leaves a thread without an item; and then only for an expert of at least COLUMN_MIN_WORK rows ×
 * weights (~0.2 ms on one thread: against that, a barrier and the wake-ups stay small). Elsewhere the
 * row split is as fast or faster: an expert that is one row item is read once anyway, and a column item
 * packs its rows again and waits at the barrier. Measured, 2 threads over 1 (A/B in one process, best of
 * 5-9 rounds each started when no other process ran; rows -> columns): expert FFN K2048 N1408 M1 1.0x -> 1.5x, M16 1.0x -> 2.2x, M48 2.0x -> 2.3x,
 * M64 1.9x both, M512 1.95x -> 1.86x; K1024 N512 M32 1.0x -> 1.5x, M48 1.3x -> 1.5x, M64 1.9x -> 1.8x;
 * MoE E8/k2 and E32/k4 at T 64 and 512 1.9-2.0x with rows, 1.8-1.9x with columns; E32/k4 T1 2.0x -> 1.6x.
 */
const COLUMN_MIN_WORK = 4 << 20;
/** 'auto' as above; 'always' splits every expert by columns, 'never' none (tests and benchmarks). */
export type ColumnPolicy = 'auto' | 'always' | 'never';
/** Panels per column item: at least MIN_ITEM_PANELS (each item packs its rows again), about COLUMN_ITEMS_PER_THREAD items per thread. */
const MIN_ITEM_PANELS = 8;
const COLUMN_ITEMS_PER_THREAD = 4;

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/** The packed sizes of the experts (wasm-experts.ts packedShape) that the cut depends on. */
export interface SplitShape {
  /** Reduction length of gate/up, and its panels (4 h columns each when gated, else 8) */
  dModelK: number;
  gateUpPanels: number;
  /** Reduction length of down, and its panels (8 y columns each) */
  dFFPad: number;
  downPanels: number;
}

export interface Phase {
  /** [nItem, ITEM_WORDS], largest first */
  items: Int32Array;
  nItem: number;
}

export interface WorkItems {
  /**
   * phases[0]: row items and gate/up column items; phases[1]: down column items (maybe none). The h word
   * of a column item is the index of its expert in `columns` until the host puts the address there.
   */
  phases: [Phase, Phase];
  /** Items of both phases */
  nItem: number;
  /** Most rows of one row item */
  maxRows: number;
  /** The experts split by columns and their rows, each with an h the threads share */
  columns: { expert: number; rows: number }[];
  /** Most rows of one expert split by columns */
  columnRows: number;
}

type Item = { words: number[]; cost: number };

/** [begin, end) ranges of nPanel panels, each begin a multiple of 4, about COLUMN_ITEMS_PER_THREAD per thread. */
export function panelRanges(nPanel: number, nThread: number): [number, number][] {
  const chunk = Math.max(MIN_ITEM_PANELS, roundUp4(Math.ceil(nPanel / (COLUMN_ITEMS_PER_THREAD * nThread))));
  const out: [number, number][] = [];
  for (let a = 0; a < nPanel; a += chunk) out.push([a, Math.min(nPanel, a + chunk)]);
  return out;
}

function toPhase(list: Item[]): Phase {
  // Largest first: the last items taken are the small ones, so the threads finish close together.
  list.sort((x, y) => y.cost - x.cost || x.words[1] - y.words[1] || x.words[2] - y.words[2] || x.words[4] - y.words[4]);
  const items = new Int32Array(ITEM_WORDS * list.length);
  list.forEach((it, i) => items.set(it.words, ITEM_WORDS * i));
  return { items, nItem: list.length };
}

/**
 * Evening out a job of few items: the threads take the items largest first, each the next when it is free,
 * so their loads end as a greedy longest-first schedule's. While that leaves the busiest thread more than
 * BALANCE_SLACK over an even share — three equal items on two threads: 1.5× — and the phase has fewer than
 * BALANCE_ITEMS_PER_THREAD items per thread, the largest row item that leaves two pieces of MIN_PIECE_ROWS
 * rows or more is cut in two. Measured, 2 threads, same-process A/B, expert FFN M96 (three items of 32 rows
 * before): K×N 1024×512 5.30 -> 4.74 and 4.85 -> 4.06 ms, 2048×1408 25.4 -> 21.0 and 26.9 -> 24.7 ms; M160
 * 1024×512 7.11 -> 6.82 and 7.68 -> 7.57 ms.
 */
const BALANCE_SLACK = 1.05;
const BALANCE_ITEMS_PER_THREAD = 4;
const MIN_PIECE_ROWS = 16;

/** The busiest thread's load over an even share, items taken largest first by the least-loaded thread. */
function imbalance(list: readonly Item[], nThread: number): number {
  const loads = new Float64Array(nThread);
  let total = 0;
  for (const it of [...list].sort((x, y) => y.cost - x.cost)) {
    let t = 0;
    for (let u = 1; u < nThread; u++) if (loads[u] < loads[t]) t = u;
    loads[t] += it.cost;
    total += it.cost;
  }
  return total > 0 ? Math.max(...loads) * nThread / total : 1;
}

/**
 * Where a row item [r0, r1) is cut in two: a multiple of 4 rows from r0 (which is one from the expert's first
 * row, so no row tile is cut), both pieces at least MIN_PIECE_ROWS; undefined when they cannot be.
 */
function cutOf(r0: number, r1: number): number | undefined {
  const mid = r0 + roundUp4(Math.ceil((r1 - r0) / 2));
  return r1 - mid >= MIN_PIECE_ROWS ? mid : undefined;
}

/** Cuts row items of `list` in two, in place, as the comment on BALANCE_SLACK says. */
function balanceRowItems(list: Item[], nThread: number): void {
  while (list.length < BALANCE_ITEMS_PER_THREAD * nThread && imbalance(list, nThread) > BALANCE_SLACK) {
    let largest = -1;
    for (let i = 0; i < list.length; i++) {
      const [kind, , r0, r1] = list[i].words;
      if (kind === ITEM_ROWS && cutOf(r0, r1) !== undefined && (largest < 0 || list[i].cost > list[largest].cost)) largest = i;
    }
    if (largest < 0) return;
    const { words, cost } = list[largest];
    const [, e, r0, r1] = words;
    const mid = cutOf(r0, r1)!;
    const share = (mid - r0) / (r1 - r0);
    list[largest] = { words: [ITEM_ROWS, e, r0, mid, 0, 0, 0], cost: cost * share };
    list.push({ words: [ITEM_ROWS, e, mid, r1, 0, 0, 0], cost: cost * (1 - share) });
  }
}

/** Whether `policy` splits an expert of `rows` rows by columns (see COLUMN_MIN_WORK). */
function byColumns(policy: ColumnPolicy, rows: number, rowStep: number, rowItems: number, nThread: number, expertWeights: number): boolean {
  if (policy !== 'auto') return policy === 'always';
  const smallItems = rows > rowStep && rowStep < MIN_ITEM_ROWS;
  return (smallItems || rowItems < nThread) && rows * expertWeights >= COLUMN_MIN_WORK;
}

/** Cuts each expert's rows into row items, or its panels into column items, as `policy` says. */
export function splitWork(
  offsets: ArrayLike<number>, nExpert: number, nThread: number, shape: SplitShape, policy: ColumnPolicy = 'auto',
): WorkItems {
  const nRow = offsets[nExpert] - offsets[0];
  const target = Math.min(MAX_ITEM_ROWS, Math.max(MIN_ITEM_ROWS, roundUp4(Math.ceil(nRow / (ROW_ITEMS_PER_THREAD * nThread)))));
  // Cost of an item: rows times the weights it streams.
  const guWeights = 8 * shape.dModelK;
  const dnWeights = 8 * shape.dFFPad;
  const expertWeights = shape.gateUpPanels * guWeights + shape.downPanels * dnWeights;
  // The row split of n rows: parts of step rows (the last one shorter), starting on multiples of 4.
  const partsOf = (n: number): number => Math.ceil(n / target);
  const stepOf = (n: number): number => roundUp4(Math.ceil(n / partsOf(n)));
  let rowItems = 0;
  for (let e = 0; e < nExpert; e++) if (offsets[e + 1] > offsets[e]) rowItems += partsOf(offsets[e + 1] - offsets[e]);
  const first: Item[] = [];
  const second: Item[] = [];
  const columns: { expert: number; rows: number }[] = [];
  let maxRows = 0;
  let columnRows = 0;
  for (let e = 0; e < nExpert; e++) {
    const r0 = offsets[e];
    const n = offsets[e + 1] - r0;
    if (n <= 0) continue;
    const step = stepOf(n);
    if (byColumns(policy, n, step, rowItems, nThread, expertWeights)) {
      const c = columns.length;
      columns.push({ expert: e, rows: n });
      columnRows = Math.max(columnRows, n);
      for (const [a, b] of panelRanges(shape.gateUpPanels, nThread)) {
        first.push({ words: [ITEM_GATE_UP, e, r0, r0 + n, a, b, c], cost: n * (b - a) * guWeights });
      }
      for (const [a, b] of panelRanges(shape.downPanels, nThread)) {
        second.push({ words: [ITEM_DOWN, e, r0, r0 + n, a, b, c], cost: n * (b - a) * dnWeights });
      }
      continue;
    }
    for (let a = 0; a < n; a += step) {
      const b = Math.min(n, a + step);
      first.push({ words: [ITEM_ROWS, e, r0 + a, r0 + b, 0, 0, 0], cost: (b - a) * expertWeights });
      maxRows = Math.max(maxRows, b - a);
    }
  }
  if (nThread > 1) balanceRowItems(first, nThread);
  return { phases: [toPhase(first), toPhase(second)], nItem: first.length + second.length, maxRows, columns, columnRows };
}
