// Expert capacity (DESIGN.md §3 `capacity`): per expert and per token group, keep at most C of the routed
// tokens — the largest final weights ('probs', Megatron-Core) or the earliest in time ('position') —
// drop the rest (expert −1, weight 0, survivors not renormalised), and optionally pad every expert to
// exactly min(C, L) rows with the lowest-index tokens it was not routed, at weight 0.
import type { ResolvedCapacity } from '../../spec/router-spec.js';
import type { PlanPadding } from '../plan.js';

/** C for a group of L tokens: perExpert, or ceil(L·k/E · factor) in Megatron-Core's order of operations. */
export function capacityOf(c: ResolvedCapacity, groupTokens: number, nExpert: number, k: number): number {
  return c.perExpert ?? Math.ceil(((groupTokens * k) / nExpert) * c.factor!);
}

/** The token groups capacity applies to: the whole call, or each sequence of S rows (batch-major). */
export function capacityGroups(c: ResolvedCapacity, nToken: number, sequenceLength: number | undefined): number {
  return c.per === 'sequence' && sequenceLength !== undefined ? sequenceLength : nToken;
}

/**
 * The 'position' rank of a token when one capacity group holds several sequences of S rows (per 'batch'
 * with sequenceLength): its position in time first, s·B + b — Megatron-Core's sequence-major order, so the
 * earliest positions of every sequence are kept, not the earliest sequences. undefined when the rank is
 * the row itself.
 */
export function positionOrder(c: ResolvedCapacity, nToken: number, sequenceLength: number | undefined): ((token: number) => number) | undefined {
  if (c.per !== 'batch' || sequenceLength === undefined || sequenceLength === nToken) return undefined;
  const S = sequenceLength;
  const B = nToken / S;
  return (t) => (t % S) * B + Math.floor(t / S);
}

/** Applies capacity in place on indices/weights [nToken, k]; returns the padding rows to add to the plan. */
export function applyCapacity(
  c: ResolvedCapacity,
  indices: Int32Array,
  weights: Float32Array,
  nToken: number,
  nExpert: number,
  k: number,
  sequenceLength: number | undefined,
): PlanPadding {
  const padding: PlanPadding = { expert: [], token: [] };
  const L = capacityGroups(c, nToken, sequenceLength);
  const C = capacityOf(c, L, nExpert, k);
  const earliest = positionOrder(c, nToken, sequenceLength) ?? ((t: number) => t);
  for (let first = 0; first < nToken; first += L) {
    for (let e = 0; e < nExpert; e++) {
      const slots: number[] = [];
      for (let s = first * k; s < (first + L) * k; s++) if (indices[s] === e) slots.push(s);
      if (slots.length > C) {
        // Slots are in token order already: the tie-break of 'probs', and the 'position' ranking unless the
        // group spans several sequences.
        const ranked = c.dropPolicy === 'probs'
          ? [...slots].sort((a, b) => weights[b] - weights[a] || a - b)
          : [...slots].sort((a, b) => earliest(Math.floor(a / k)) - earliest(Math.floor(b / k)));
        for (const s of ranked.slice(C)) {
          indices[s] = -1;
          weights[s] = 0;
        }
      } else if (c.padToCapacity) {
        const routed = new Set(slots.map((s) => Math.floor(s / k)));
        const need = Math.min(C, L) - slots.length;
        for (let t = first, added = 0; t < first + L && added < need; t++) {
          if (routed.has(t)) continue;
          padding.expert.push(e);
          padding.token.push(t);
          added++;
        }
      }
    }
  }
  return padding;
}
