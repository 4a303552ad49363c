/**
 * The keys RedisStore uses and the Lua scripts that make each lock step
 * one atomic operation. Every key starts with `{prefix}:`: the braces are
 * a Redis Cluster hash tag, so a deployment's keys share one slot and the
 * scripts, which touch several of them, run on one node.
 */

export class RedisKeys {
  readonly #base: string;

  constructor(prefix: string) {
    this.#base = `{${prefix}}`;
  }

  /** Hash: cert, key, issuedAt, expiresAt, source, fence. */
  certificate(domain: string): string {
    return `${this.#base}:cert:${domain}`;
  }

  account(directoryUrl: string): string {
    return `${this.#base}:account:${directoryUrl}`;
  }

  /** The lease: value `<fence>:<random>`, with a TTL of one lease. */
  lock(name: string): string {
    return `${this.#base}:lock:${name}`;
  }

  /** The fencing counter of a name: INCR on every acquisition, never reset. */
  fence(name: string): string {
    return `${this.#base}:fence:${name}`;
  }

  http01(token: string): string {
    return `${this.#base}:http01:${token}`;
  }

  /** Hash: key, cert. */
  alpn(domain: string): string {
    return `${this.#base}:alpn:${domain}`;
  }

  /** Hash: epoch, current, previous (base64 ticket keys). */
  ticketKeys(): string {
    return `${this.#base}:tickets`;
  }

  /** Pub/sub channel: the domain of every certificate saved. */
  changes(): string {
    return `${this.#base}:changed`;
  }
}

/**
 * KEYS[1] lock, KEYS[2] fence; ARGV[1] random part, ARGV[2] lease ms.
 * Returns the new fence when taken, 0 when someone holds it. The fence is
 * bumped only on success, so it counts holders, not attempts.
 */
export const acquireScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
return fence
`;

/** KEYS[1] lock; ARGV[1] token, ARGV[2] lease ms. Extends the lease only if it is still ours: 1, else 0. */
export const renewScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS[1] lock; ARGV[1] token. Compare-and-delete: never removes a lease that passed to another holder. */
export const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * KEYS[1] certificate hash, KEYS[2] lock (or ''); ARGV[1] token (or ''),
 * ARGV[2] channel, ARGV[3] domain, ARGV[4..] field/value pairs. Writes and
 * announces the certificate only while the lease is still the one the
 * order ran under (checked in this same step): 1 when saved, 0 when refused.
 */
export const saveScript = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/**
 * KEYS[1] ticket hash; ARGV[1] wanted epoch, ARGV[2] a fresh key (base64).
 * The first instance to reach a new epoch installs its key and keeps the
 * old one as previous; the others get that key. Returns {epoch, current}.
 */
export const rotateTicketsScript = `
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '-1')
local wanted = tonumber(ARGV[1])
if epoch < wanted then
  local current = redis.call('HGET', KEYS[1], 'current')
  if current then redis.call('HSET', KEYS[1], 'previous', current) end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'current', ARGV[2])
  return {ARGV[1], ARGV[2]}
end
return {tostring(epoch), redis.call('HGET', KEYS[1], 'current')}
`;
