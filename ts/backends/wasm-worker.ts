// The body of every WASM worker thread. It is shipped as source text (workerMain.toString()), not as a
// separate file: a worker then starts the same way from the source tree (vitest), from dist/, and from a
// user's own bundle, with no worker URL to resolve or copy beside the bundle. So workerMain must stay
// self-contained — no imports, no references outside itself; the layout of the control block arrives
// in the start message (wasm-pool.ts defines it).
//
// A worker instantiates the shared-memory build over the pool's memory, moves its accumulators to a block
// of its own (ACCUMULATOR_BYTES), says 'ready', then waits for the job generation to move — polling it for
// idleSpinMs after each job, then asleep in Atomics.wait. Each job it takes part
// in, it takes work items (wasm-split.ts) from a shared counter until none are left, runs them with its
// own scratch (tiles, h, kernel scratch) and counts itself done; a second-phase item waits first until every
// first-phase item has finished (wasm-pool.ts). A trap in a kernel is caught, written to the control
// block, ends the job's items (the barrier opens) and is counted as done, so the main thread reports it
// instead of waiting forever. When the
// job asks for it (a main thread awaiting the job where Atomics.waitAsync is missing), each worker also
// posts 'done' after counting itself. When the pool stops, it changes the epoch and wakes everyone: a
// worker of an older epoch returns.

/** What the runtime gives the worker: node:worker_threads' parentPort or a Web Worker's self, adapted. */
export interface WorkerPort {
  postMessage(message: unknown): void;
  onMessage(listener: (data: unknown) => void): void;
}

/** Word indices into the control block (Int32Array over the shared memory at `ctrl`). */
export interface ControlLayout {
  words: number;
  gen: number;
  next: number;
  done: number;
  /** the pool's epoch: a worker whose start epoch differs has been stopped, and returns */
  epoch: number;
  nItem: number;
  /** address of the items, itemWords words each */
  items: number;
  itemWords: number;
  failed: number;
  /** 1 when the main thread awaits this job by message: workers post { type: 'done' } when they finish */
  post: number;
  /** 15 words: runExpertItem's arguments before `kind`, then y (alpha and limit as f32 bits) */
  params: number;
  /** the memory's size in 64 KiB pages when the job began (the worker's view may lag behind it) */
  pages: number;
  /** items of the first phase; the rest wait until that many have finished */
  first: number;
  /** first-phase items finished (the barrier's count) */
  finished: number;
  /** ms a thread polls the barrier before it sleeps */
  spinMs: number;
  /** ms a worker polls for the next job before it sleeps */
  idleSpinMs: number;
  /** 4 words per worker: active flag, tiles, h, kernel scratch pointers */
  thread: number;
  /** 1 word per worker: epoch + 1 once it waits for jobs */
  ready: number;
  /** message bytes (UTF-8) of the first failure, at byte ctrl + 4 · message */
  message: number;
  messageBytes: number;
}

export interface WorkerStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: number;
  index: number;
  acc: number;
  epoch: number;
  layout: ControlLayout;
}

type RunExpertItem = (...args: number[]) => void;

export function workerMain(port: WorkerPort): void {
  port.onMessage(async (data) => {
    const { module, memory, ctrl, index, acc, epoch, layout: L } = data as WorkerStart;
    let run: RunExpertItem;
    try {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      const exports = instance.exports as { runExpertItem: RunExpertItem; useAccumulators(ptr: number): void };
      exports.useAccumulators(acc);
      run = exports.runExpertItem;
    } catch (e) {
      port.postMessage({ type: 'failed', message: String(e) });
      return;
    }
    // The control block sits low in memory, allocated before any growth: this view stays valid.
    const c = new Int32Array(memory.buffer, ctrl, L.words);
    const cf = new Float32Array(memory.buffer, ctrl, L.words);
    // Read before saying ready: the main thread includes this worker only in jobs published after it saw
    // the flag. The flag is in shared memory, not only a message: a caller that awaits forward() in a
    // loop never gives its event loop a turn to receive messages.
    let seen = Atomics.load(c, L.gen);
    Atomics.store(c, L.ready + index, epoch + 1);
    port.postMessage({ type: 'ready' });
    const slot = L.thread + 4 * index;
    for (;;) {
      // Stopped: return rather than wait. Deno cannot terminate a worker blocked in Atomics.wait (the
      // process then never exits), and returning lets every runtime end the worker. Checked before every
      // wait, after `seen` was read: the pool moves the epoch before the generation, so a worker that read
      // the stopping generation as `seen` (it was still starting when the pool stopped; Deno delivers the
      // start message to a terminated worker) sees the new epoch here instead of sleeping forever.
      if (Atomics.load(c, L.epoch) !== epoch) return;
      // Poll for the next job a while before sleeping: forwards come back to back (a model's layers), and
      // a sleeping thread takes tens to hundreds of µs to wake — the main thread would run alone meanwhile.
      const idleUntil = performance.now() + L.idleSpinMs;
      while (Atomics.load(c, L.gen) === seen && performance.now() < idleUntil);
      Atomics.wait(c, L.gen, seen);
      if (Atomics.load(c, L.epoch) !== epoch) return;
      const gen = Atomics.load(c, L.gen);
      if (gen === seen) continue;
      seen = gen;
      if (Atomics.load(c, slot) !== 1) continue;
      try {
        // The main thread may have grown the memory since this worker last looked. V8 tells other threads
        // of a growth by an interrupt that a thread woken from Atomics.wait may not have taken yet: then
        // its buffer (and its instance's bounds) still have the old size. grow(0) brings both up to date.
        if (memory.buffer.byteLength < c[L.pages] * 65536) memory.grow(0);
        if (memory.buffer.byteLength < c[L.pages] * 65536) {
          throw new RangeError(`this thread sees ${memory.buffer.byteLength} bytes of memory, the job needs ${c[L.pages] * 65536}`);
        }
        const p = L.params;
        const nItem = c[L.nItem];
        const first = c[L.first];
        const W = L.itemWords;
        const items = new Int32Array(memory.buffer, c[L.items], W * nItem);
        for (;;) {
          const i = Atomics.add(c, L.next, 1);
          if (i >= nItem) break;
          if (i >= first) {
            // The barrier: poll for spinMs (the last first-phase items are ending), then sleep.
            const spinUntil = performance.now() + L.spinMs;
            for (let f = Atomics.load(c, L.finished); f < first; f = Atomics.load(c, L.finished)) {
              if (performance.now() > spinUntil) Atomics.wait(c, L.finished, f, 1000);
            }
          }
          const it = W * i;
          run(c[p], c[p + 1], c[p + 2], c[p + 3], c[p + 4], c[p + 5], c[p + 6], c[p + 7], c[p + 8], c[p + 9],
            cf[p + 10], cf[p + 11], c[p + 12], c[p + 13], items[it], items[it + 1], items[it + 2], items[it + 3],
            items[it + 4], items[it + 5], items[it + 6], c[slot + 1], c[slot + 2], c[p + 14], c[slot + 3]);
          if (i < first && Atomics.add(c, L.finished, 1) + 1 === first) Atomics.notify(c, L.finished);
        }
      } catch (e) {
        // No more items, and the barrier opens: the main thread must not wait for the item that failed.
        Atomics.store(c, L.next, 1 << 30);
        Atomics.store(c, L.finished, 1 << 30);
        Atomics.notify(c, L.finished);
        if (Atomics.compareExchange(c, L.failed, 0, index + 1) === 0) {
          const text = new TextEncoder().encode(`worker ${index + 1}: ${String(e)}`).subarray(0, L.messageBytes - 1);
          const out = new Uint8Array(memory.buffer, ctrl + 4 * L.message, L.messageBytes);
          out.fill(0);
          out.set(text);
        }
      }
      Atomics.add(c, L.done, 1);
      Atomics.notify(c, L.done);
      if (Atomics.load(c, L.post) === 1) port.postMessage({ type: 'done' });
    }
  });
}

/** The worker's whole source: workerMain applied to the runtime's port expression. */
export function workerSource(port: string): string {
  return `(${workerMain.toString()})(${port});\n`;
}
