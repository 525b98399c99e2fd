// The worker threads of one threaded WASM backend, and the handshake of a job over shared memory.
//
// One job = one runExperts call. The main thread writes the arguments into a control block in the
// shared memory, marks the workers that take part, bumps the generation and wakes them; then it takes
// items itself from the same counter (the main thread is one of the threads), and finally waits until
// every marked worker has counted itself done. Workers start lazily and asynchronously (start()): a job
// simply leaves out those not ready yet, which changes who runs an item, never what it computes.
//
// The main thread blocks in Atomics.wait at the end of a job: the CPU interface is synchronous
// (runExperts returns the output), so there is no event loop turn to wait on. threads.ts therefore only
// enables threads where the calling thread may block (Node, Deno, any worker — not a browser window).
// The wait is cut into slices, and a job in which no item finishes for WATCHDOG_MS is declared hung (a
// worker died mid-job): the pool is torn down and the call throws instead of waiting forever.
import { SwitchyardError } from '../errors.js';
import type { ThreadProvider, WorkerHandle } from '../runtime/providers.js';
import type { WasmHeap } from './wasm-heap.js';
import { workerSource, type ControlLayout, type WorkerStart } from './wasm-worker.js';

/** Most threads a backend runs (options.threads above it is refused): beyond that, a misread option. */
export const MAX_THREADS = 64;
const MESSAGE_BYTES = 256;
export const LAYOUT: ControlLayout = {
  gen: 0, next: 1, done: 2, epoch: 3, nItem: 4, items: 5, failed: 6,
  params: 8, thread: 24, ready: 24 + 4 * MAX_THREADS, message: 24 + 5 * MAX_THREADS, messageBytes: MESSAGE_BYTES,
  words: 24 + 5 * MAX_THREADS + MESSAGE_BYTES / 4,
};
/** How long a job may go without any worker finishing (items are bounded, ~seconds at most). */
const WATCHDOG_MS = 60_000;
const WAIT_SLICE_MS = 1000;

interface PoolWorker {
  handle: WorkerHandle;
  dead: boolean;
}

export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly accs: number[] = [];
  /** The first reason a worker could not run (start failure, trap, hang). */
  failure: string | undefined;
  private settled!: Promise<void>;

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
      // Each worker's accumulators (tile.ts's ACC): 128 bytes of its own, for the worker's lifetime.
      const acc = this.accs[index] ?? (this.accs[index] = this.heap.alloc(128));
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
          if (m.type === 'failed') this.markDead(worker, `worker ${index + 1} could not instantiate the module: ${m.message}`);
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
   * wakes the given workers, runs `drain` (the main thread's share), waits for the workers.
   */
  run(participants: number[], drain: () => void): void {
    const c = new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words);
    for (let i = 0; i < this.nWorker; i++) c[LAYOUT.thread + 4 * i] = 0;
    for (const i of participants) c[LAYOUT.thread + 4 * i] = 1;
    c[LAYOUT.failed] = 0;
    Atomics.store(c, LAYOUT.next, 0);
    Atomics.store(c, LAYOUT.done, 0);
    Atomics.add(c, LAYOUT.gen, 1);
    Atomics.notify(c, LAYOUT.gen);
    let mainError: unknown;
    try {
      drain();
    } catch (e) {
      mainError = e;
      // Leave no items for the workers, so they finish as soon as their current one does.
      Atomics.store(c, LAYOUT.next, 1 << 30);
    }
    this.waitDone(c, participants.length);
    if (mainError !== undefined) throw mainError;
    const failed = Atomics.load(c, LAYOUT.failed);
    if (failed !== 0) {
      const bytes = new Uint8Array(this.memory.buffer, this.ctrl + 4 * LAYOUT.message, LAYOUT.messageBytes).slice();
      const text = new TextDecoder().decode(bytes.subarray(0, Math.max(0, bytes.indexOf(0))));
      this.fail(`a worker thread failed during runExperts (${text}); this backend continues on 1 thread`);
    }
  }

  private waitDone(c: Int32Array, expected: number): void {
    let lastNext = Atomics.load(c, LAYOUT.next);
    let quietSince = Date.now();
    for (;;) {
      const done = Atomics.load(c, LAYOUT.done);
      if (done >= expected) return;
      if (Atomics.wait(c, LAYOUT.done, done, WAIT_SLICE_MS) !== 'timed-out') continue;
      // Progress = items taken or workers finishing; a dead worker holds one item forever.
      const next = Atomics.load(c, LAYOUT.next);
      if (next !== lastNext) {
        lastNext = next;
        quietSince = Date.now();
      } else if (Date.now() - quietSince > WATCHDOG_MS) {
        this.fail(`${expected - done} worker thread(s) made no progress for ${WATCHDOG_MS / 1000} s (a worker died?); this backend continues on 1 thread`);
      }
    }
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
    // the new epoch, which the old ones cannot confuse.
    const c = new Int32Array(this.memory.buffer, this.ctrl, LAYOUT.words);
    Atomics.add(c, LAYOUT.epoch, 1);
    Atomics.notify(c, LAYOUT.gen);
    for (const w of this.workers) w.handle.terminate();
    this.workers.length = 0;
  }
}
