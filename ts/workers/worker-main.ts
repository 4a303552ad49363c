/**
 * The entry of a worker process (forked by WorkerGroup): the data path
 * only. It waits for `init`, then serves what the control plane sends and
 * acknowledges every message that carries an id. When the IPC channel
 * closes (the control plane stopped it, exited or was killed) it exits at
 * once, so a worker never outlives its control plane.
 */
import type { ListenHandle } from '../ports/listen-handle.js';
import { pino, type Logger } from 'pino';
import type { FromWorker, ToWorker, WorkerFailure } from './protocol.js';
import { metricsIntervalMs } from './protocol.js';
import { WorkerRuntime } from './worker-runtime.js';

let runtime: WorkerRuntime | undefined;

function send(message: FromWorker, then?: () => void): void {
  if (process.connected) process.send!(message, undefined, {}, () => then?.());
  else then?.();
}

/** Each log line goes to the control plane's logger, so the user's logger sees every worker. */
function forwardingLogger(level: string): Logger {
  return pino({ name: 'smartproxy', level, base: { worker: process.pid } }, { write: (line: string) => send({ type: 'log', line }) });
}

function failure(error: unknown): WorkerFailure {
  const e = error as { code?: unknown; message?: unknown; port?: unknown };
  return { code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? error), ...(typeof e.port === 'number' ? { port: e.port } : {}) };
}

async function handle(message: ToWorker, rt: WorkerRuntime, handle: ListenHandle | undefined): Promise<void> {
  switch (message.type) {
    case 'listen':
      if (handle === undefined) throw new Error(`port ${message.port} came without its socket`);
      return rt.listen(message.port, handle);
    case 'stage':
      return rt.stage(message.generation, message.routes, message.internal);
    case 'commit':
      return rt.commit(message.generation);
    case 'abort':
      return rt.abort(message.generation);
    case 'certificate':
      return rt.certificates.setCertificate(message.domain, message.cert, message.key);
    case 'alpn':
      return rt.certificates.setAlpnCertificate(message.domain, message.key === undefined || message.cert === undefined ? undefined : { key: message.key, cert: message.cert });
    case 'token':
      return message.keyAuthorization === undefined ? rt.tokens.delete(message.token) : rt.tokens.set(message.token, message.keyAuthorization);
    case 'ticket-keys':
      return rt.certificates.setTicketKeys(Buffer.from(message.keys, 'base64'));
    case 'options':
      return rt.applyOptions(message.options);
    default:
      throw new Error(`unknown message ${message.type}`);
  }
}

process.on('message', (message: ToWorker, listenHandle?: ListenHandle) => {
  if (message.type === 'group-metrics') return runtime?.setGroupMetrics(message.text);
  if (message.type === 'init') {
    runtime = new WorkerRuntime(message.settings, forwardingLogger(message.settings.logLevel));
    const rt = runtime;
    setInterval(() => send({ type: 'metrics', counters: rt.counters() }), metricsIntervalMs).unref();
    return send({ type: 'ack', id: message.id });
  }
  const rt = runtime;
  if (rt === undefined) {
    listenHandle?.close();
    return send({ type: 'ack', id: message.id, error: { code: undefined, message: 'worker not initialised' } });
  }
  if (message.type === 'stop') {
    void rt.stop(message.drainTimeoutMs).finally(() => send({ type: 'ack', id: message.id }, () => process.exit(0)));
    return;
  }
  handle(message, rt, listenHandle).then(
    () => send({ type: 'ack', id: message.id }),
    (error: unknown) => send({ type: 'ack', id: message.id, error: failure(error) }),
  );
});

// The control plane is gone (stopped, crashed, killed): so is this worker, at once.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
