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
 * KEYS[1] certificate hash, KEYS[2] lock, KEYS[3] fence; ARGV[1] token (or
 * '' for a save under no lease), ARGV[2] our fence, ARGV[3] channel,
 * ARGV[4] domain, ARGV[5..] field/value pairs. Refused (0) when another
 * holds the name now, or anyone took it after us (the fence moved on, even
 * if they have released it since); else written and announced (1). A lease
 * that merely lapsed with nobody taking the name still saves: the work is
 * good and nobody else did it.
 */
export const saveScript = `
if ARGV[1] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder and holder ~= ARGV[1] then return 0 end
  if tonumber(redis.call('GET', KEYS[3]) or '0') > tonumber(ARGV[2]) then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PUBLISH', ARGV[3], ARGV[4])
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
