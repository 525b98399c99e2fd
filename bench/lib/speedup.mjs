// The thread target is a ratio of ours to ours (2 threads ≥ 1.7× 1 thread), which the peer columns
// do not show: the 2-thread row gets it in its note and in the JSON, from paired rounds (measure.mjs).
import { pairedSpeedup } from './measure.mjs';

/** row (our 2-thread run, with its roundMedians) gets speedupVsOneThread and a note saying it; returns row. */
export function withSpeedup(row, oneThread) {
  row.speedupVsOneThread = pairedSpeedup(oneThread, row);
  const said = `${row.speedupVsOneThread.toFixed(2)}× our 1t (median of paired rounds)`;
  row.note = row.note ? `${row.note}; ${said}` : said;
  return row;
}
