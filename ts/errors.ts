/**
 * Every error smartproxy hands to a user is a SmartProxyError with a stable
 * `code`. Codes never change meaning and are never reused; the readme lists
 * each one with what to do about it (a test keeps the two in step).
 */

const kSmartProxyError = Symbol.for('smartproxy.error');

export class SmartProxyError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SmartProxyError';
    this.code = code;
    // Brand-checked so instanceof-style checks work across copies of the library.
    Object.defineProperty(this, kSmartProxyError, { value: true });
  }

  static isSmartProxyError(value: unknown): value is SmartProxyError {
    return typeof value === 'object' && value !== null && kSmartProxyError in value;
  }
}

/** Another application already holds the port (EADDRINUSE on a port we do not own). */
export class PortInUseError extends SmartProxyError {
  readonly port: number;
  /** The address the bind was tried on; undefined for all interfaces. */
  readonly host: string | undefined;
  /** Names of the routes that wanted the port (empty when not known, e.g. a bind outside an update). */
  readonly routes: readonly string[];

  constructor(port: number, options?: { cause?: unknown; host?: string; routes?: readonly string[] }) {
    const where = options?.host ? `${options.host}:${port}` : `port ${port}`;
    const routes = Object.freeze([...(options?.routes ?? [])]);
    const named = routes.length > 0 ? ` (${routes.map((r) => `'${r}'`).join(', ')})` : '';
    super(
      'EADDRINUSE',
      `${where} is in use by another application, not by smartproxy: ` +
        `stop that application or choose a different port for the routes that use ${port}${named}`,
      options,
    );
    this.name = 'PortInUseError';
    this.port = port;
    this.host = options?.host;
    this.routes = routes;
  }
}

const bindAdvice: Record<string, string> = {
  EACCES:
    'ports below 1024 need privileges: run as root, grant the capability ' +
    "(setcap 'cap_net_bind_service=+ep' $(which node)), " +
    'or listen on a port >= 1024 and forward to it',
  EADDRNOTAVAIL: 'the listen address is not assigned to this machine: check the host setting',
};

/** Binding a port failed for a reason other than another process holding it (EACCES, EADDRNOTAVAIL, …). */
export class PortBindError extends SmartProxyError {
  readonly port: number;
  readonly syscallCode: string | undefined;

  constructor(port: number, cause: unknown) {
    const syscallCode = errnoCode(cause);
    const advice = (syscallCode && bindAdvice[syscallCode]) ?? 'see the cause for details';
    super(
      'ERR_PORT_BIND',
      `binding port ${port} failed${syscallCode ? ` (${syscallCode})` : ''}: ${advice}`,
      { cause },
    );
    this.name = 'PortBindError';
    this.port = port;
    this.syscallCode = syscallCode;
  }
}

export interface RouteProblem {
  /** The route's name, or `routes[<index>]` when it has none. */
  route: string;
  /** Where in the route the problem is, e.g. `match.ports[1]`. */
  path: string;
  message: string;
}

/** One or more routes are invalid; `errors` lists every problem found, not just the first. */
export class RouteValidationError extends SmartProxyError {
  readonly errors: readonly RouteProblem[];

  constructor(errors: RouteProblem[]) {
    const shown = errors.slice(0, 5).map((e) => `${e.route} ${e.path}: ${e.message}`);
    const more = errors.length > shown.length ? `; and ${errors.length - shown.length} more` : '';
    super(
      'ERR_ROUTE_VALIDATION',
      `${errors.length} route problem${errors.length === 1 ? '' : 's'}, nothing was applied: ${shown.join('; ')}${more}`,
    );
    this.name = 'RouteValidationError';
    this.errors = Object.freeze(errors.slice());
  }
}

/** One problem with one option; `option` is its dotted path (`acme.email`, `timeouts.headersMs`). */
export interface OptionProblem {
  option: string;
  message: string;
}

/**
 * Options given to `new SmartProxy()` or `updateOptions()` are invalid;
 * `problems` lists every one (unknown names come with "did you mean").
 */
export class InvalidOptionError extends SmartProxyError {
  readonly problems: readonly OptionProblem[];

  constructor(option: string, expected: string, received: unknown);
  constructor(problems: readonly OptionProblem[]);
  constructor(optionOrProblems: string | readonly OptionProblem[], expected?: string, received?: unknown) {
    const problems =
      typeof optionOrProblems === 'string'
        ? [{ option: optionOrProblems, message: `should be ${expected}, instead got ${describe(received)}` }]
        : optionOrProblems.slice();
    const shown = problems.slice(0, 5).map((p) => `option "${p.option}" ${p.message}`);
    const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : '';
    super('ERR_INVALID_OPTION', `${shown.join('; ')}${more}`);
    this.name = 'InvalidOptionError';
    this.problems = Object.freeze(problems);
  }
}

/** A config file (CLI) cannot be read or parsed, or what it holds is invalid; `problems` lists every one. */
export class ConfigFileError extends SmartProxyError {
  readonly path: string;
  readonly problems: readonly RouteProblem[];

  constructor(path: string, problems: readonly RouteProblem[]) {
    super('ERR_CONFIG_FILE', `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    this.name = 'ConfigFileError';
    this.path = path;
    this.problems = Object.freeze(problems.slice());
  }
}

/** A certificate store entry exists but cannot be used (bad JSON, missing file); the certificate is obtained again. */
export class CorruptStoreEntryError extends SmartProxyError {
  constructor(what: string, reason: string) {
    super('ERR_CORRUPT_STORE_ENTRY', `${what} is unreadable: ${reason}`);
    this.name = 'CorruptStoreEntryError';
  }
}

/** A method was called in a lifecycle state that does not allow it (e.g. updateRoutes after stop). */
export class ProxyStateError extends SmartProxyError {
  constructor(message: string) {
    super('ERR_PROXY_STATE', message);
    this.name = 'ProxyStateError';
  }
}

/** Obtaining or renewing a certificate failed. */
export class CertificateError extends SmartProxyError {
  readonly domain: string;

  constructor(domain: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CERTIFICATE', `certificate for ${domain}: ${message}`, options);
    this.name = 'CertificateError';
    this.domain = domain;
  }
}

/** A request to the ACME CA got no answer within `acme.timeoutMs`; the order failed and is retried with backoff. */
export class AcmeTimeoutError extends SmartProxyError {
  readonly url: string;
  readonly timeoutMs: number;

  constructor(url: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('ERR_ACME_TIMEOUT', `the ACME CA did not answer ${url} within ${timeoutMs} ms: it is stalled or unreachable; the order is retried with backoff`, options);
    this.name = 'AcmeTimeoutError';
    this.url = url;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The name's order lock passed to another instance (our lease expired: a
 * stall, a lost connection to the store) before the certificate was
 * finalized or saved. The order is abandoned or its save refused, and the
 * new holder's certificate is served instead.
 */
export class LeaseLostError extends SmartProxyError {
  /** The locked name (a domain). */
  readonly lockName: string;

  constructor(name: string, step: string) {
    super('ERR_LEASE_LOST', `the order lock on ${name} is no longer ours (its lease expired) at ${step}; another instance holds it now and its certificate is used`);
    this.name = 'LeaseLostError';
    this.lockName = name;
  }
}

/** A worker process (the `workers` option) could not start, or could not apply what the control plane sent it. */
export class WorkerError extends SmartProxyError {
  /** The worker's pid; undefined when it never started. */
  readonly pid: number | undefined;

  constructor(message: string, options?: { cause?: unknown; pid?: number }) {
    super('ERR_WORKER', message, options);
    this.name = 'WorkerError';
    this.pid = options?.pid;
  }
}

/** Every code above, for documentation checks. */
export const errorCodes = [
  'EADDRINUSE',
  'ERR_PORT_BIND',
  'ERR_ROUTE_VALIDATION',
  'ERR_INVALID_OPTION',
  'ERR_PROXY_STATE',
  'ERR_CERTIFICATE',
  'ERR_CONFIG_FILE',
  'ERR_CORRUPT_STORE_ENTRY',
  'ERR_ACME_TIMEOUT',
  'ERR_LEASE_LOST',
  'ERR_WORKER',
] as const;

/** A stable error code. */
export type ErrorCode = (typeof errorCodes)[number];

export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
