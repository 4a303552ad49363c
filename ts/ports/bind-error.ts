import { errnoCode, PortBindError, PortInUseError, type SmartProxyError } from '../errors.js';

export type ConflictKind = 'none' | 'internal' | 'external';

/**
 * Tells our own bindings from another program's. EADDRINUSE on a port this
 * proxy already listens on is internal (reuse it); on any other port it is
 * another application's.
 */
export function classifyConflict(error: unknown, boundBySmartProxy: boolean): ConflictKind {
  if (errnoCode(error) !== 'EADDRINUSE') return 'none';
  return boundBySmartProxy ? 'internal' : 'external';
}

/** The typed error a user sees for a failed bind. */
export function bindError(port: number, error: unknown, host?: string): SmartProxyError {
  if (errnoCode(error) === 'EADDRINUSE') return new PortInUseError(port, { cause: error, host });
  return new PortBindError(port, error);
}
