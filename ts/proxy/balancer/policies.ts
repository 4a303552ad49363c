/**
 * How a balancer picks among available targets. Each policy takes the
 * targets and an `available` test; none allocates per pick.
 */
import type { Upstream } from './upstream.js';

/** The load balancing policies a route may name. Default: `'round-robin'`. */
export const policyNames = ['round-robin', 'least-connections', 'ip-hash'] as const;
export type PolicyName = (typeof policyNames)[number];

export type Available = (target: Upstream) => boolean;

/** The first available target from `start` on, in order. */
export function roundRobin(targets: readonly Upstream[], start: number, available: Available): Upstream | undefined {
  const n = targets.length;
  for (let i = 0; i < n; i++) {
    const t = targets[(start + i) % n]!;
    if (available(t)) return t;
  }
  return undefined;
}

/** The available target with the fewest in flight; ties go to the first from `start`, so equal targets share. */
export function leastConnections(targets: readonly Upstream[], start: number, available: Available): Upstream | undefined {
  const n = targets.length;
  let best: Upstream | undefined;
  for (let i = 0; i < n; i++) {
    const t = targets[(start + i) % n]!;
    if (available(t) && (best === undefined || t.active < best.active)) best = t;
  }
  return best;
}

/** Points each target holds on the ring: enough that adding one of N targets moves about 1/(N+1) of clients. */
const virtualNodes = 160;

/**
 * A consistent-hash ring: a client IP maps to the first target clockwise of
 * its hash, skipping unavailable ones. Adding or removing a target only
 * moves the clients whose arc it takes or frees.
 */
export class HashRing {
  readonly #points: Uint32Array;
  readonly #owners: Upstream[];

  constructor(targets: readonly Upstream[]) {
    const entries: { point: number; owner: Upstream }[] = [];
    for (const owner of targets) {
      for (let v = 0; v < virtualNodes; v++) entries.push({ point: fnv1a(`${owner.key}#${v}`), owner });
    }
    entries.sort((a, b) => a.point - b.point);
    this.#points = Uint32Array.from(entries, (e) => e.point);
    this.#owners = entries.map((e) => e.owner);
  }

  pick(clientIp: string, available: Available): Upstream | undefined {
    const points = this.#points;
    const n = points.length;
    if (n === 0) return undefined;
    const hash = fnv1a(clientIp);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    for (let i = 0; i < n; i++) {
      const owner = this.#owners[(lo + i) % n]!;
      if (available(owner)) return owner;
    }
    return undefined;
  }
}

/** FNV-1a, 32 bits: stable across processes, so every proxy instance maps a client the same way. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // A final avalanche: keys that differ in the last character otherwise land close together.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}
