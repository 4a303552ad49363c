import { constants } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { IRouteTls, ITlsPolicy, TlsMinVersion } from '../../routing/types.js';

/**
 * Mozilla's "intermediate" server profile (ssl-config.mozilla.org, v5.7),
 * narrowed as the project asks to ECDHE key exchange with AEAD ciphers:
 * TLS 1.3's three suites, then ECDHE with AES-GCM or ChaCha20-Poly1305 for
 * TLS 1.2. No static-RSA key exchange (no forward secrecy) and no CBC
 * (LUCKY13 and friends), which Node's own default still offers.
 */
export const intermediateCiphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** The `tls` option's defaults: TLS 1.2 minimum and {@link intermediateCiphers}. */
export const defaultTlsPolicy: Readonly<Required<ITlsPolicy>> = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: intermediateCiphers,
});

export const tlsMinVersions: readonly TlsMinVersion[] = Object.freeze(['TLSv1.2', 'TLSv1.3']);

/** A policy with every field set, and a key that tells policies apart in caches. */
export interface ResolvedTlsPolicy {
  readonly minVersion: TlsMinVersion;
  readonly ciphers: string;
  readonly key: string;
}

/**
 * The options every terminating secure context is built with. Renegotiation
 * is refused by OpenSSL itself (SSL_OP_NO_RENEGOTIATION, a TLS 1.2 feature
 * TLS 1.3 dropped): a renegotiating client is a CPU-exhaustion vector and no
 * HTTP client needs it. Client cipher order is honoured, as Mozilla advises
 * when every suite offered is strong (clients without AES hardware prefer
 * ChaCha20).
 */
export function secureContextPolicyOptions(policy: ResolvedTlsPolicy): SecureContextOptions {
  return {
    minVersion: policy.minVersion,
    ciphers: policy.ciphers,
    honorCipherOrder: false,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

function resolved(minVersion: TlsMinVersion, ciphers: string): ResolvedTlsPolicy {
  return Object.freeze({ minVersion, ciphers, key: `${minVersion}|${ciphers}` });
}

/**
 * The proxy-wide policy and each route's override of it. Routes are frozen
 * and kept across updates, so a route's policy is worked out once.
 */
export class TlsPolicies {
  readonly global: ResolvedTlsPolicy;
  readonly #byRoute = new WeakMap<IRouteTls, ResolvedTlsPolicy>();

  /** `options` has been checked by {@link tlsOptionProblems}. */
  constructor(options: ITlsPolicy | undefined) {
    this.global = resolved(options?.minVersion ?? defaultTlsPolicy.minVersion, options?.ciphers ?? defaultTlsPolicy.ciphers);
  }

  /** The policy for a route's `action.tls`: its own minVersion/ciphers where set, the global ones otherwise. */
  forRoute(tls: IRouteTls | undefined): ResolvedTlsPolicy {
    if (tls === undefined || (tls.minVersion === undefined && tls.ciphers === undefined)) return this.global;
    let policy = this.#byRoute.get(tls);
    if (policy === undefined) {
      policy = resolved(tls.minVersion ?? this.global.minVersion, tls.ciphers ?? this.global.ciphers);
      this.#byRoute.set(tls, policy);
    }
    return policy;
  }
}

/**
 * A value a TLS policy field does not accept: what it should be, for
 * InvalidOptionError (`tls`) and route validation (`action.tls`) alike.
 */
export interface PolicyProblem {
  path: string;
  expected: string;
  received: unknown;
}

/** What a minVersion should be when `value` is not valid, or undefined. */
export function minVersionProblem(value: unknown): string | undefined {
  if (typeof value === 'string' && (tlsMinVersions as readonly string[]).includes(value)) return undefined;
  const old = typeof value === 'string' && /^TLSv1(\.[01])?$/.test(value) ? ' (TLS 1.0 and 1.1 are broken and not offered)' : '';
  return `'TLSv1.2' or 'TLSv1.3'${old}`;
}

/** What a cipher string should be when OpenSSL rejects `value`, or undefined. Builds a throwaway context to ask OpenSSL. */
export function ciphersProblem(value: unknown): string | undefined {
  const expected = "a cipher string OpenSSL accepts, e.g. 'ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256' (see 'openssl ciphers -v')";
  if (typeof value !== 'string' || value.trim().length === 0) return expected;
  try {
    createSecureContext({ ciphers: value });
    return undefined;
  } catch (error) {
    return `${expected}; OpenSSL said: ${(error as Error).message}`;
  }
}

/** Every problem with the top-level `tls` option. */
export function tlsOptionProblems(value: unknown, closest: (word: string, known: readonly string[]) => string | undefined): PolicyProblem[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [{ path: 'tls', expected: '{ minVersion?, ciphers? }', received: value }];
  const problems: PolicyProblem[] = [];
  const known = Object.keys(defaultTlsPolicy);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    problems.push({ path: `tls.${key}`, expected: `one of ${known.join(', ')}${near ? ` (did you mean '${near}'?)` : ''}`, received: key });
  }
  const policy = value as Record<string, unknown>;
  const version = policy.minVersion === undefined ? undefined : minVersionProblem(policy.minVersion);
  if (version !== undefined) problems.push({ path: 'tls.minVersion', expected: version, received: policy.minVersion });
  const ciphers = policy.ciphers === undefined ? undefined : ciphersProblem(policy.ciphers);
  if (ciphers !== undefined) problems.push({ path: 'tls.ciphers', expected: ciphers, received: policy.ciphers });
  return problems;
}
