/**
 * The messages between the control plane and its worker processes, over
 * the fork() IPC channel (JSON, plus a bound socket's handle for `listen`).
 * Every message the control plane must know was applied carries an `id`;
 * the worker answers each with one `ack` of that id (with `error` when it
 * could not apply it), so the control plane can wait for the whole group.
 */
import type { ILiveOptions, LogLevel, IHttp2Options } from '../options.js';
import type { IRouteConfig, ITlsPolicy } from '../routing/types.js';
import type { LimitName } from '../options.js';
import type { ITrafficCounters } from '../metrics/metrics.js';

/** What a worker is started with (the options that cannot change while it runs). */
export interface WorkerSettings {
  host: string | undefined;
  tls: ITlsPolicy | undefined;
  live: ILiveOptions;
  logLevel: LogLevel;
  /** HTTP/2 session limits. */
  http2?: IHttp2Options;
  /** Peers that must send a PROXY header. */
  proxyProtocol?: { allowFrom: string[] };
  /** Whether to write access log records (through the worker's logger, which reaches the control plane's). */
  accessLog?: boolean;
}

/** An internal route sent as data: the handler is named, and the worker has its own copy. */
export interface InternalRouteData {
  config: IRouteConfig & { name: string };
  handler: 'acme-http01';
}

/** Messages the control plane sends; those with an `id` are acknowledged. */
export type ToWorker =
  | { type: 'init'; id: number; settings: WorkerSettings }
  /**
   * A port the control plane bound, sent with its handle: the worker accepts
   * from it (its own copy of the one socket) until a committed table no
   * longer routes the port, or the generation it was sent for is aborted.
   */
  | { type: 'listen'; id: number; port: number }
  /** Phase one of a route generation: build, but keep serving the old table. */
  | { type: 'stage'; id: number; generation: number; routes: IRouteConfig[]; internal: InternalRouteData[] }
  /** Phase two: the staged table goes live in one assignment; ports it no longer uses are released. */
  | { type: 'commit'; id: number; generation: number }
  /** The staged table is dropped and the ports it bound are released. */
  | { type: 'abort'; id: number; generation: number }
  | { type: 'certificate'; id: number; domain: string; cert: string; key: string }
  /** A TLS-ALPN-01 challenge certificate; no key and cert: withdrawn. */
  | { type: 'alpn'; id: number; domain: string; key?: string; cert?: string }
  /** An HTTP-01 token; no keyAuthorization: withdrawn. */
  | { type: 'token'; id: number; token: string; keyAuthorization?: string }
  /** TLS session ticket keys, base64 of 48 bytes, shared so a session resumes on any worker. */
  | { type: 'ticket-keys'; id: number; keys: string }
  | { type: 'options'; id: number; options: ILiveOptions }
  /** The group's Prometheus text, for a `metrics` route served by any worker. Not acknowledged. */
  | { type: 'group-metrics'; text: string }
  | { type: 'stop'; id: number; drainTimeoutMs: number };

/** A worker's counters, as it reports them every metrics interval. */
export interface WorkerCounters {
  total: ITrafficCounters;
  routes: Record<string, ITrafficCounters>;
  ports: Record<string, ITrafficCounters & { answeredByProxy?: Record<string, number> }>;
  limitHits: Partial<Record<LimitName, number>>;
}

/** A failure a worker reports for a message, enough to rebuild the typed error. */
export interface WorkerFailure {
  code: string | undefined;
  message: string;
  port?: number;
}

/** Messages a worker sends. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'ack'; id: number; error?: WorkerFailure }
  | { type: 'metrics'; counters: WorkerCounters }
  /** One pino line (JSON) for the control plane's logger. */
  | { type: 'log'; line: string };

/** How often a worker reports its counters (the issue asks for at least once a second). */
export const metricsIntervalMs = 250;
