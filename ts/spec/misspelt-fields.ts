// Fields a caller meant but misspelt. An options or spec object is read field by field, so `normalise: true`
// or `{ tokens, sequenceLen }` would be ignored and the call would run on the default the caller meant to
// change: silent wrong weights, a capacity that is never per sequence. A field that is not one of those an
// object takes but nearly is one is refused instead, naming both. Other unknown fields pass: objects built
// for other tools, or carrying fields of their own, still work.
import { SwitchyardError } from '../errors.js';

/**
 * Throws SwitchyardError 'config' on the first own field of `value` that is not in `known` (nor in
 * `elsewhere`: fields valid in a sibling form, e.g. another router kind's) but nearly is one of `known`.
 * @param what  names the object in the message, e.g. "a 'topk' RouterSpec"
 */
export function refuseMisspeltFields(value: object, known: readonly string[], argument: string, what: string, elsewhere: readonly string[] = []): void {
  // An array where an object belongs is refused by the field checks after this; its indices are no fields.
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return;
  for (const field of Object.keys(value)) {
    if (known.includes(field)) continue;
    // An abbreviation is refused even where another form takes the field: capacityFactor is expert
    // choice's, and on a 'topk' spec it is its capacity misnamed.
    const abbreviated = known.find((k) => abbreviates(field, k));
    if (abbreviated === undefined && elsewhere.includes(field)) continue;
    const meant = abbreviated ?? known.find((k) => nearlySame(field, k));
    if (meant === undefined) continue;
    throw new SwitchyardError('config', `${argument}.${field}`,
      `unknown field '${field}' — did you mean '${meant}'? (it would be ignored); the fields of ${what}: ${known.join(', ')}`);
  }
}

/**
 * Other names for a field, by its simplified name: the abbreviations in common use and the names of the
 * same setting in Hugging Face configs (norm_topk_prob, routed_scaling_factor, e_score_correction_bias),
 * onnxruntime (numThreads) and elsewhere — too far from the field's own name for nearlySame to see.
 */
const OTHER_NAMES: Readonly<Record<string, readonly string[]>> = {
  sequencelength: ['seqlen', 'seqlength', 'seqlens'],
  tokenids: ['inputids', 'ids'],
  maxiterations: ['maxiter', 'maxiters', 'maxit', 'maxits', 'iterations', 'iters', 'niter', 'numiters'],
  tolerance: ['tol'],
  padtocapacity: ['pad', 'padding', 'padded'],
  capacity: ['capacityfactor', 'expertcapacity'],
  factor: ['capacityfactor'],
  normalize: ['renormalize', 'renormalise', 'renorm', 'normtopkprob'],
  scale: ['routedscalingfactor', 'scalingfactor'],
  selectionbias: ['escorecorrectionbias', 'scorecorrectionbias', 'expertbias'],
  threads: ['numthreads', 'nthreads'],
  weightdtype: ['dtype'],
};

/** Whether `field` is one of the other names of `name` (OTHER_NAMES), case, '_' and '-' aside. */
export function abbreviates(field: string, name: string): boolean {
  return OTHER_NAMES[simplified(name)]?.includes(simplified(field)) ?? false;
}

/**
 * The same name but for case, '_' / '-', one or two letters (by length) or a cut-off end: 'normalise' and
 * 'normalize', 'tokenIDs' and 'tokenIds', 'd_model' and 'dModel', 'thread' and 'threads', 'sequenceLen' and
 * 'sequenceLength' — or one of its other names (abbreviates): 'seq_len', 'maxIter', 'numThreads'.
 */
export function nearlySame(field: string, name: string): boolean {
  const a = simplified(field);
  const b = simplified(name);
  if (a === b || abbreviates(field, name)) return true;
  const shorter = Math.min(a.length, b.length);
  if (shorter >= 4 && Math.abs(a.length - b.length) <= 3 && (a.startsWith(b) || b.startsWith(a))) return true;
  const allowed = shorter >= 8 ? 2 : shorter >= 4 ? 1 : 0;
  return allowed > 0 && Math.abs(a.length - b.length) <= allowed && editDistance(a, b) <= allowed;
}

function simplified(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '');
}

/** Insertions, deletions, substitutions and swaps of neighbours that turn a into b (optimal string alignment). */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1).fill(0);
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) current[j] = Math.min(current[j], before[j - 2] + 1);
    }
    [before, previous] = [previous, current];
  }
  return previous[b.length];
}
