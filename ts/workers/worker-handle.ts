import { fork, type ChildProcess, type SendHandle } from 'node:child_process';
import type { ListenHandle } from '../ports/listen-handle.js';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker, WorkerCounters, WorkerFailure } from './protocol.js';

/** Messages that are acknowledged: everything but the fire-and-forget group metrics. */
export type Request = Exclude<ToWorker, { type: 'group-metrics' }>;
type Unsent<M> = M extends { id: number } ? Omit<M, 'id'> : never;
export type RequestBody = Unsent<Request>;

/** A worker answered a message with an error. */
export class WorkerRequestError extends Error {
  readonly failure: WorkerFailure;
  readonly pid: number;
  constructor(pid: number, failure: WorkerFailure) {
    super(`worker ${pid}: ${failure.message}`);
    this.failure = failure;
    this.pid = pid;
  }
}

/**
 * The worker entry beside this module: worker-main.js in dist/, or
 * worker-main.ts when the package runs from source under tsx (the tests),
 * which the child then loads through tsx as well.
 */
function workerEntry(): { file: string; execArgv: string[] } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  const file = fileURLToPath(new URL(ts ? './worker-main.ts' : './worker-main.js', here));
  if (!ts) return { file, execArgv: [] };
  let tsx = 'tsx';
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    // resolved from the working directory then
  }
  return { file, execArgv: [`--import=${tsx}`] };
}

/**
 * One worker process seen from the control plane: requests with ids and
 * their acknowledgements, the ports it was given to accept from, the
 * counters it last reported. A request to a worker that exits rejects
 * instead of hanging.
 */
export class WorkerHandle {
  readonly child: ChildProcess;
  readonly pid: number;
  /** When it was forked (Date.now()). */
  readonly startedAt = Date.now();
  /** Ports whose socket it was sent and has not let go of (kept by the group to send each socket once). */
  listening = new Set<number>();
  /** The counters it last reported (zero until the first report). */
  counters: WorkerCounters | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  #gone = false;

  constructor(onLog: (line: string) => void) {
    const entry = workerEntry();
    // stdio inherited: a worker that fails before its logger exists still says why on stderr.
    this.child = fork(entry.file, [], { execArgv: entry.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    this.pid = this.child.pid ?? 0;
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    void this.exited.then(() => {
      this.#gone = true;
      for (const { reject } of this.#pending.values()) reject(new Error(`worker ${this.pid} exited`));
      this.#pending.clear();
    });
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type !== 'ready') return;
        this.child.off('message', onMessage);
        resolve();
      };
      this.child.on('message', onMessage);
      void this.exited.then(() => reject(new Error(`worker ${this.pid} exited before it was ready`)));
    });
    this.ready.catch(() => undefined);
    this.child.on('message', (message: FromWorker) => {
      if (message.type === 'ack') this.#settle(message.id, message.error);
      else if (message.type === 'metrics') this.counters = message.counters;
      else if (message.type === 'log') onLog(message.line);
    });
    // An IPC write to a worker that just died: its exit handler does the cleanup.
    this.child.on('error', () => undefined);
  }

  get alive(): boolean {
    return !this.#gone;
  }

  /**
   * Sends a message and resolves when the worker has applied it. `handle`
   * goes with it (a `listen`): the worker gets its own descriptor of the
   * socket and this process keeps its own.
   */
  request(body: RequestBody, handle?: ListenHandle): Promise<void> {
    if (this.#gone) return Promise.reject(new Error(`worker ${this.pid} exited`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Typed as a Socket or Server, but child.send() takes a raw TCP handle too (sent as 'net.Native').
      this.child.send({ ...body, id } as ToWorker, handle as unknown as SendHandle, (error) => {
        if (error) this.#settle(id, { code: undefined, message: error.message });
      });
    });
  }

  /** Sends without waiting for an answer (group metrics). */
  notify(message: Extract<ToWorker, { type: 'group-metrics' }>): void {
    if (!this.#gone && this.child.connected) this.child.send(message, (error) => void error);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.#gone) this.child.kill(signal);
  }

  #settle(id: number, error: WorkerFailure | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (error === undefined) pending.resolve();
    else pending.reject(new WorkerRequestError(this.pid, error));
  }
}
