// RouterMonitor: routing health across calls and layers — per-layer load history, the global-batch aux
// loss (the aux loss of all recorded tokens together: balance asked of the whole batch rather than of
// each micro-batch, Qiu et al. 2025, arXiv 2501.11873), Megatron-Core's running form of it, and a warning
// when a layer's load collapses.
import { SwitchyardError, describe } from '../errors.js';
import { refuseMisspeltFields } from '../spec/misspelt-fields.js';
import type { Routing } from '../spec/types.js';
import { topKIndices } from '../reference/topk.js';
import { normalizedEntropy } from '../reference/stats.js';

export interface RouterMonitorOptions {
  /** A layer whose loadEntropy falls below this (0..1) counts as collapsed; default 0.5. */
  collapseThreshold?: number;
  /** Called once per layer when it first collapses; by default a console.warn. */
  onCollapse?: (layer: number, loadEntropy: number) => void;
}

interface LayerRecord {
  nExpert: number;
  k: number;
  tokens: number;
  /** Σ over recorded tokens of the loss distribution P, per expert */
  sumP: Float64Array;
  /** Σ over recorded tokens of the plain top-k counts on P, per expert */
  counts: Float64Array;
  /** sumP and tokens of the last recorded call alone, and the number of calls */
  lastSumP: Float64Array;
  lastTokens: number;
  calls: number;
  history: Int32Array[];
  collapsed: boolean;
}

/**
 * @example
 * const monitor = new RouterMonitor();
 * for (const [layer, moe] of layers.entries()) monitor.record((await moe.forward(h, { tokens })).routing, layer);
 * monitor.globalAux(0); monitor.loadHistory(0);
 */
export class RouterMonitor {
  private readonly layers = new Map<number, LayerRecord>();
  private readonly threshold: number;
  private readonly onCollapse: (layer: number, loadEntropy: number) => void;

  constructor(options: RouterMonitorOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new SwitchyardError('config', 'options', `expected { collapseThreshold?, onCollapse? } or nothing, received ${describe(options)}`);
    }
    refuseMisspeltFields(options, ['collapseThreshold', 'onCollapse'], 'options', 'RouterMonitor options');
    this.threshold = options.collapseThreshold ?? 0.5;
    if (typeof this.threshold !== 'number' || !(this.threshold >= 0 && this.threshold <= 1)) {
      throw new SwitchyardError('range', 'options.collapseThreshold', `expected a number in [0, 1], received ${describe(options.collapseThreshold)}`);
    }
    if (options.onCollapse !== undefined && typeof options.onCollapse !== 'function') {
      throw new SwitchyardError('config', 'options.onCollapse', `expected a function (layer, loadEntropy) => void, received ${describe(options.onCollapse)}`);
    }
    this.onCollapse = options.onCollapse ?? ((layer, h) =>
      console.warn(`switchyard: router collapse in layer ${layer}: loadEntropy ${h.toFixed(3)} < ${this.threshold}`));
  }

  /** Adds one routing of `layer` to the totals. */
  record(routing: Routing, layer = 0): void {
    if (!Number.isSafeInteger(layer) || layer < 0) throw new SwitchyardError('range', 'layer', `expected a non-negative integer, received ${describe(layer)}`);
    const { E, T, k } = routingDims(routing);
    let rec = this.layers.get(layer);
    if (!rec) {
      rec = {
        nExpert: E, k, tokens: 0, sumP: new Float64Array(E), counts: new Float64Array(E),
        lastSumP: new Float64Array(E), lastTokens: 0, calls: 0, history: [], collapsed: false,
      };
      this.layers.set(layer, rec);
    }
    if (rec.nExpert !== E || rec.k !== k) {
      throw new SwitchyardError('shape', 'routing', `layer ${layer} was recorded with E=${rec.nExpert}, k=${rec.k}; received E=${E}, k=${k}`);
    }
    const p = new Float64Array(E);
    const top = new Int32Array(k);
    rec.lastSumP.fill(0);
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (let e = 0; e < E; e++) sum += routing.probs[t * E + e];
      for (let e = 0; e < E; e++) {
        p[e] = routing.probs[t * E + e] / (sum + 1e-20);
        rec.lastSumP[e] += p[e];
      }
      topKIndices(p, E, k, top);
      for (let j = 0; j < k; j++) rec.counts[top[j]]++;
    }
    for (let e = 0; e < E; e++) rec.sumP[e] += rec.lastSumP[e];
    rec.tokens += T;
    rec.lastTokens = T;
    rec.calls++;
    rec.history.push(routing.stats.load.slice());
    if (!rec.collapsed && routing.stats.loadEntropy < this.threshold) {
      rec.collapsed = true;
      this.onCollapse(layer, routing.stats.loadEntropy);
    }
  }

  /** The aux loss over every token recorded for the layer (1.0 at perfect balance). */
  globalAux(layer = 0): number {
    const rec = this.require(layer);
    let acc = 0;
    for (let e = 0; e < rec.nExpert; e++) acc += rec.sumP[e] * rec.counts[e];
    return (rec.nExpert / (rec.k * rec.tokens * rec.tokens)) * acc;
  }

  /**
   * Megatron-Core's `global_aux_loss` as it stands after the last recorded call (a micro-batch): that
   * call's own scores against the running mean of the counts of every call since reset(),
   * E/(k·T²)·Σₑ(Σₜ Pₜₑ)·(Σ_calls Nₑ / calls) with T the last call's tokens (router.py
   * _apply_global_aux_loss). It streams — counts of later micro-batches are not yet known — so it equals
   * globalAux() after one call, and after several only when the calls' scores agree.
   */
  runningGlobalAux(layer = 0): number {
    const rec = this.require(layer);
    let acc = 0;
    for (let e = 0; e < rec.nExpert; e++) acc += rec.lastSumP[e] * (rec.counts[e] / rec.calls);
    return (rec.nExpert / (rec.k * rec.lastTokens * rec.lastTokens)) * acc;
  }

  /** The load per expert of every recorded call of the layer, oldest first. */
  loadHistory(layer = 0): Int32Array[] {
    return this.require(layer).history.map((l) => l.slice());
  }

  /** The summed load per expert over the recorded calls, and its normalised entropy. */
  totalLoad(layer = 0): { load: Float64Array; loadEntropy: number } {
    const rec = this.require(layer);
    const load = new Float64Array(rec.nExpert);
    for (const l of rec.history) for (let e = 0; e < rec.nExpert; e++) load[e] += l[e];
    return { load, loadEntropy: normalizedEntropy(load, 0, rec.nExpert) };
  }

  collapsed(layer = 0): boolean {
    return this.require(layer).collapsed;
  }

  recordedLayers(): number[] {
    return [...this.layers.keys()].sort((a, b) => a - b);
  }

  /** Forgets everything, e.g. at the end of a global batch. */
  reset(): void {
    this.layers.clear();
  }

  private require(layer: number): LayerRecord {
    const rec = this.layers.get(layer);
    if (!rec) {
      const recorded = [...this.layers.keys()].sort((a, b) => a - b);
      throw new SwitchyardError('range', 'layer', `expected a recorded layer (${recorded.length ? recorded.join(', ') : 'none yet'}), received ${describe(layer)}`);
    }
    return rec;
  }
}

/** E, T and k of a Routing, after checking it is one (the arrays record() reads, of consistent sizes). */
function routingDims(routing: Routing): { E: number; T: number; k: number } {
  const r = routing as Partial<Routing> | null;
  const load = r?.stats?.load;
  const ok = r !== null && typeof r === 'object' && load instanceof Int32Array && load.length > 0 &&
    r.probs instanceof Float32Array && r.indices instanceof Int32Array && typeof r.stats?.loadEntropy === 'number';
  const E = ok ? load.length : 0;
  const T = ok ? r.probs!.length / E : 0;
  const k = ok ? r.indices!.length / T : 0;
  if (!ok || !Number.isInteger(T) || T < 1 || !Number.isInteger(k) || k < 1) {
    throw new SwitchyardError('shape', 'routing', `expected a Routing from route() or forward() (stats.load [E], probs [T·E], indices [T·k]), received ${describe(routing)}`);
  }
  return { E, T, k };
}
