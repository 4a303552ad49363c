// smartproxy/redis: the shared store for several instances. A subpath of its own so that only those who use it load the Redis client.
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export type { RedisNameLock, RedisNameLockOptions } from './redis-name-lock.js';
export type { RedisTicketKeys } from './redis-ticket-keys.js';
