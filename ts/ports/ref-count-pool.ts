/**
 * Values shared by key and counted by use, after Caddy's UsagePool: the
 * first acquire constructs the value, the last release destroys it. While
 * the count stays above zero the value is never constructed again.
 */
export class RefCountPool<K, V> {
  readonly #entries = new Map<K, { count: number; value: Promise<V> }>();

  /**
   * Adds `refs` uses of `key`, constructing its value if it has none. A
   * failed construction leaves no entry, so a later acquire tries again.
   * Concurrent acquires of a key under construction share the one attempt.
   */
  async acquire(key: K, construct: () => Promise<V>, refs = 1): Promise<V> {
    assertRefs(refs);
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.count += refs;
      return entry.value;
    }
    const created = { count: refs, value: construct() };
    this.#entries.set(key, created);
    try {
      return await created.value;
    } catch (error) {
      if (this.#entries.get(key) === created) this.#entries.delete(key);
      throw error;
    }
  }

  /**
   * Drops `refs` uses; at zero the entry goes and `destruct` runs on its
   * value. Dropping more uses than were taken is a bug in the caller, so it
   * throws instead of hiding it.
   */
  async release(key: K, destruct: (value: V) => void | Promise<void>, refs = 1): Promise<boolean> {
    assertRefs(refs);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.count < refs) {
      throw new RangeError(`releasing ${refs} use(s) of ${String(key)} that holds ${entry?.count ?? 0}`);
    }
    entry.count -= refs;
    if (entry.count > 0) return false;
    this.#entries.delete(key);
    await destruct(await entry.value);
    return true;
  }

  /** Adds uses to an existing entry without constructing anything. */
  increment(key: K, refs = 1): number {
    assertRefs(refs);
    const entry = this.#entries.get(key);
    if (entry === undefined) throw new RangeError(`no entry for ${String(key)} to add uses to`);
    entry.count += refs;
    return entry.count;
  }

  count(key: K): number {
    return this.#entries.get(key)?.count ?? 0;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  keys(): K[] {
    return [...this.#entries.keys()];
  }
}

function assertRefs(refs: number): void {
  if (!Number.isInteger(refs) || refs < 1) throw new RangeError(`reference count change must be a positive integer, got ${refs}`);
}
