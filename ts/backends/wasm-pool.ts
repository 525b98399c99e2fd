// The worker threads of one threaded WASM backend, and the handshake of a job over shared memory.
//
// One job = one runExperts call. The main thread writes the arguments into a control block in the
// shared memory, marks the workers that take part, bumps the generation and wakes them; then it takes
// items itself from the same counter (the main thread is one of the threads), and finally waits until
// every marked worker has counted itself done. Workers start lazily and asynchronously (start()): a job
// simply leaves out those not ready yet, which changes who runs an item, never what it computes.
// The items of a job come in two phases (wasm-split.ts): the first `first` items, then the rest, which
// read what the first wrote. Every thread counts the first-phase items it finishes; one that takes a
// second-phase item waits at that count until it is complete (a barrier inside the job: no second wake
// of the workers, and the threads are still running when it opens, so they spin a little before they
// sleep).
//
// Two ways to wait for the workers at the end of a job:
//   - run(): blocks in Atomics.wait — for a synchronous runExperts on a thread that may block (Node,
//     Deno, any worker);
//   - runAsync(): awaits Atomics.waitAsync, or, where an engine lacks it, a 'done' message from each
//     worker — for a thread that may not block (a browser window's main thread, callerMayBlock()).
// Either wait is cut into slices, and a job in which no item finishes for WATCHDOG_MS is declared hung
// (a worker died mid-job): the pool is torn down and the call throws instead of waiting forever.
import { SwitchyardError } from '../errors.js';
import type { ThreadProvider, WorkerHandle } from '../runtime/providers.js';
import type { WasmHeap } from './wasm-heap.js';
import { ITEM_WORDS } from './wasm-split.js';
import { workerSource, type ControlLayout, type WorkerStart } from './wasm-worker.js';

/** Most threads a backend runs (options.threads above it is refused): beyond that, a misread option. */
export const MAX_THREADS = 64;
/** Bytes of one thread's kernel accumulators (assembly/ffn/tile.ts ACC: 12 × v128, tile6x8's, then q8.ts' group sums). */
export const ACCUMULATOR_BYTES = 768;
const MESSAGE_BYTES = 256;
const WASM_PAGE_BYTES = 65536;
/**
 * How long a thread at the barrier polls before it sleeps: the first phase's last items are running
 * on the other threads then, and a sleeping thread takes a while to wake (tens to hundreds of µs).
 */
const BARRIER_SPIN_MS = 1;
/** How long a worker polls for the next job before it sleeps (wasm-worker.ts). */
const IDLE_SPIN_MS = 2;
/** Marks a job aborted: no item index is this large, and the barrier opens. */
const ABORTED = 1 << 30;
export const LAYOUT: ControlLayout = {
  gen: 0, next: 1, done: 2, epoch: 3, nItem: 4, items: 5, itemWords: ITEM_WORDS, failed: 6, post: 7,
  params: 8, first: 23, finished: 24, pages: 25, spinMs: BARRIER_SPIN_MS, idleSpinMs: IDLE_SPIN_MS,
  thread: 28, ready: 28 + 4 * MAX_THREADS, message: 28 + 5 * MAX_THREADS, messageBytes: MESSAGE_BYTES,
  words: 28 + 5 * MAX_THREADS + MESSAGE_BYTES / 4,
};
/** How long a job may go without any worker finishing (items are bounded, ~seconds at most). */
const WATCHDOG_MS = 60_000;
const WAIT_SLICE_MS = 1000;

/** Whether this thread may block in Atomics.wait (not a browser window's main thread). */
export function callerMayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

type WaitAsync = (view: Int32Array, index: number, value: number, timeout?: number) =>
  { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

/** Atomics.waitAsync where the engine has it (Chromium, Deno, Node ≥ 16; not every browser yet). */
function waitAsyncOf(): WaitAsync | undefined {
  const f = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  return typeof f === 'function' ? f.bind(Atomics) : undefined;
}

interface PoolWorker {
  handle: WorkerHandle;
  dead: boolean;
}

export class WorkerPool {
  private workers: PoolWorker[] = [];
  private readonly accs: number[] = [];
  /** The first reason a worker could not run (start failure, trap, hang). */
  failure: string | undefined;
  private settled!: Promise<void>;
  /** A job is between its start and the end of its wait: no other job may use the control block. */
  busy = false;
  /** Wakes runAsync's wait when a worker posts 'done' (the message path) or the pool stops. */
  private wake: (() => void) | undefined;
  /** Whether the running job's main thread may block (run) or not (runAsync): how it waits at the barrier. */
  private mayBlock = true;

  constructor(
    private readonly provider: ThreadProvider,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly heap: WasmHeap,
    /** Byte offset of the control block (LAYOUT.words words), allocated before any growth. */
    readonly ctrl: number,
    private readonly nWorker: number,
  ) {}

  get size(): number {
    return this.workers.length;
  }

  /** Spawns the workers (no-op when running); resolves once each has said 'ready' or failed. */
  start(): Promise<void> {
    if (this.workers.length > 0) return this.settled;
    const started: Promise<void>[] = [];
    for (let index = 0; index < this.nWorker; index++) {
      // Each worker's accumulators (tile.ts's ACC), its own for the worker's lifetime.
      const acc = this.accs[index] ?? (this.accs[index] = this.heap.alloc(ACCUMULATOR_BYTES));
      let handle: WorkerHandle;
      try {
        handle = this.provider.spawn(workerSource);
      } catch (e) {
        this.failure ??= `starting worker ${index + 1} failed: ${String(e)}`;
        continue;
      }
      const worker: PoolWorker = { handle, dead: false };
      this.workers.push(worker);
      started.push(new Promise<void>((resolve) => {
        handle.onMessage((data) => {
          const m = data as { type?: string; message?: string };
          if (m.type === 'done') this.wake?.();
          else if (m.type === 'failed') this.markDead(worker, `worker ${index + 1} could not instantiate the module: ${m.message}`);
          resolve();
        });
        handle.onError((e) => {
          this.markDead(worker, `worker ${index + 1} failed: ${String((e as { message?: unknown })?.message ?? e)}`);
          resolve();
        });
      }));
      const epoch = Atomics.load(new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words), LAYOUT.epoch);
      const start: WorkerStart = { module: this.module, memory: this.memory, ctrl: this.ctrl, index, acc, epoch, layout: LAYOUT };
      handle.postMessage(start);
    }
    this.settled = Promise.all(started).then(() => undefined);
    return this.settled;
  }

  private markDead(worker: PoolWorker, reason: string): void {
    worker.dead = true;
    this.failure ??= reason;
    worker.handle.terminate();
  }

  /** Indices of the workers that take part in the next job: those whose ready flag carries this epoch. */
  readyWorkers(): number[] {
    const out: number[] = [];
    if (this.workers.length === 0) return out;
    const c = new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words);
    const flag = Atomics.load(c, LAYOUT.epoch) + 1;
    this.workers.forEach((w, i) => { if (!w.dead && Atomics.load(c, LAYOUT.ready + i) === flag) out.push(i); });
    return out;
  }

  /**
   * Runs one job whose arguments and per-worker scratch the caller has written into the control block:
   * wakes the given workers, runs `drain` (the main thread's share), blocks until the workers are done.
   */
  run(participants: number[], drain: () => void): void {
    const c = this.begin(participants, false);
    this.mayBlock = true;
    try {
      const mainError = this.runShare(c, drain);
      this.waitDone(c, participants.length);
      this.finish(c, mainError);
    } finally {
      this.busy = false;
    }
  }

  /** run() for a thread that may not block: the main thread drains, then awaits the workers. */
  async runAsync(participants: number[], drain: () => void): Promise<void> {
    const waitAsync = waitAsyncOf();
    const c = this.begin(participants, waitAsync === undefined);
    this.mayBlock = false;
    try {
      const mainError = this.runShare(c, drain);
      await this.waitDoneAsync(participants.length, waitAsync);
      this.finish(this.control(), mainError);
    } finally {
      this.busy = false;
    }
  }

  private control(): Int32Array {
    return new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words);
  }

  private begin(participants: number[], post: boolean): Int32Array {
    if (this.busy) throw new Error('WorkerPool: a job started while another was running');
    this.busy = true;
    const c = this.control();
    for (let i = 0; i < this.nWorker; i++) c[LAYOUT.thread + 4 * i] = 0;
    for (const i of participants) c[LAYOUT.thread + 4 * i] = 1;
    c[LAYOUT.failed] = 0;
    c[LAYOUT.post] = post ? 1 : 0;
    c[LAYOUT.pages] = this.memory.buffer.byteLength / WASM_PAGE_BYTES;
    Atomics.store(c, LAYOUT.finished, 0);
    Atomics.store(c, LAYOUT.next, 0);
    Atomics.store(c, LAYOUT.done, 0);
    Atomics.add(c, LAYOUT.gen, 1);
    Atomics.notify(c, LAYOUT.gen);
    return c;
  }

  /** The main thread's share; an error in it leaves no items for the workers, which then finish soon. */
  private runShare(c: Int32Array, drain: () => void): unknown {
    try {
      drain();
      return undefined;
    } catch (e) {
      // No more items for anyone, and the barrier opens for a worker waiting there (its item computes
      // garbage that nobody reads: this call throws).
      Atomics.store(c, LAYOUT.next, ABORTED);
      Atomics.store(c, LAYOUT.finished, ABORTED);
      Atomics.notify(c, LAYOUT.finished);
      return e ?? new Error('runExperts failed');
    }
  }

  /** The main thread's side of the barrier: returns once `first` first-phase items have finished. */
  awaitFirstPhase(c: Int32Array, first: number): void {
    const spinUntil = performance.now() + BARRIER_SPIN_MS;
    let last = Atomics.load(c, LAYOUT.finished);
    let quietSince = Date.now();
    for (;;) {
      const f = Atomics.load(c, LAYOUT.finished);
      if (f >= first) return;
      if (f !== last) {
        last = f;
        quietSince = Date.now();
      } else if (Date.now() - quietSince > WATCHDOG_MS) {
        throw new SwitchyardError('backend', 'options.threads', `no worker thread finished an item for ${WATCHDOG_MS / 1000} s (a worker died?)`);
      }
      // Past the spin, a thread that may block sleeps until a finish notifies it; one that may not keeps polling.
      if (this.mayBlock && performance.now() > spinUntil) Atomics.wait(c, LAYOUT.finished, f, WAIT_SLICE_MS);
    }
  }

  /** Counts a finished first-phase item; the last one wakes the threads sleeping at the barrier. */
  finishedFirstPhaseItem(c: Int32Array, first: number): void {
    if (Atomics.add(c, LAYOUT.finished, 1) + 1 === first) Atomics.notify(c, LAYOUT.finished);
  }

  private finish(c: Int32Array, mainError: unknown): void {
    if (mainError !== undefined) throw mainError;
    const failed = Atomics.load(c, LAYOUT.failed);
    if (failed !== 0) {
      const bytes = new Uint8Array(this.memory.buffer, this.ctrl + 4 * LAYOUT.message, LAYOUT.messageBytes).slice();
      const text = new TextDecoder().decode(bytes.subarray(0, Math.max(0, bytes.indexOf(0))));
      this.fail(`a worker thread failed during runExperts (${text}); this backend continues on 1 thread`);
    }
  }

  private waitDone(c: Int32Array, expected: number): void {
    const watchdog = this.watchdog(expected);
    // The workers' last items are ending as the main thread runs out of its own: poll before sleeping.
    const pollUntil = performance.now() + BARRIER_SPIN_MS;
    while (Atomics.load(c, LAYOUT.done) < expected && performance.now() < pollUntil);
    for (;;) {
      const done = Atomics.load(c, LAYOUT.done);
      if (done >= expected) return;
      if (Atomics.wait(c, LAYOUT.done, done, WAIT_SLICE_MS) === 'timed-out') watchdog(done);
    }
  }

  private async waitDoneAsync(expected: number, waitAsync: WaitAsync | undefined): Promise<void> {
    const watchdog = this.watchdog(expected);
    const generation = this.workers;
    for (;;) {
      // The memory may have grown during the await (another block's call): a fresh view each time.
      const c = this.control();
      const done = Atomics.load(c, LAYOUT.done);
      if (done >= expected) return;
      if (this.workers !== generation || this.workers.length === 0) {
        throw new SwitchyardError('backend', 'options.threads', 'the worker threads were stopped during runExperts');
      }
      // A timer in every slice: it bounds the wait for the watchdog, and keeps Node's event loop alive
      // (neither a pending waitAsync nor an unref'd worker's message does).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woken = await new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), WAIT_SLICE_MS);
        this.wake = () => resolve(true);
        if (waitAsync) {
          const w = waitAsync(c, LAYOUT.done, done, WAIT_SLICE_MS);
          if (!w.async) resolve(true);
          else void w.value.then((r) => resolve(r === 'ok'));
        }
      });
      clearTimeout(timer);
      this.wake = undefined;
      if (!woken) watchdog(Atomics.load(c, LAYOUT.done));
    }
  }

  /** Progress = items taken or workers finishing; a dead worker holds one item forever. */
  private watchdog(expected: number): (done: number) => void {
    let lastNext = Atomics.load(this.control(), LAYOUT.next);
    let quietSince = Date.now();
    return (done) => {
      const next = Atomics.load(this.control(), LAYOUT.next);
      if (next !== lastNext) {
        lastNext = next;
        quietSince = Date.now();
      } else if (Date.now() - quietSince > WATCHDOG_MS) {
        this.fail(`${expected - done} worker thread(s) made no progress for ${WATCHDOG_MS / 1000} s (a worker died?); this backend continues on 1 thread`);
      }
    };
  }

  private fail(message: string): never {
    this.failure ??= message;
    this.terminate();
    throw new SwitchyardError('backend', 'options.threads', message);
  }

  /** Stops and drops every worker; start() may spawn new ones later. */
  terminate(): void {
    if (this.workers.length === 0) return;
    // A new epoch tells these workers to return (whenever they wake); a later start() spawns workers of
    // the new epoch, which the old ones cannot confuse. The generation moves too, so a worker polling for
    // a job (or about to sleep, having missed the notify) sees a change and looks at the epoch.
    const c = new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words);
    Atomics.add(c, LAYOUT.epoch, 1);
    Atomics.add(c, LAYOUT.gen, 1);
    Atomics.notify(c, LAYOUT.gen);
    for (const w of this.workers) w.handle.terminate();
    this.workers = [];
    // An awaiting job sees the new (empty) worker list and throws rather than wait for dead workers.
    this.wake?.();
  }
}
