/**
 * The settings a running proxy can change (timeouts, limits, trusted
 * proxies), held in one place the data path reads on every use. A change is
 * one assignment of a new frozen object: connections and requests that
 * start after it see the new values, nothing in flight is disturbed.
 */
import type { ClientLimitOptions } from '../proxy/client-limits.js';
import { compileIpMatcher, type IpMatcher } from '../routing/ip-matcher.js';
import { defaultLimits, defaultTimeouts, type ILimitOptions, type ILiveOptions, type ITimeoutOptions } from '../options.js';

export class LiveSettings {
  #timeouts: Readonly<Required<ITimeoutOptions>>;
  #limits: Readonly<Required<ILimitOptions>>;
  #trustedProxies: IpMatcher | undefined;

  constructor(options: ILiveOptions) {
    this.#timeouts = withDefaults(defaultTimeouts, options.timeouts);
    this.#limits = withDefaults(defaultLimits, options.limits);
    this.#trustedProxies = compileTrusted(options.trustedProxies);
  }

  get timeouts(): Readonly<Required<ITimeoutOptions>> {
    return this.#timeouts;
  }

  get limits(): Readonly<Required<ILimitOptions>> {
    return this.#limits;
  }

  get trustedProxies(): IpMatcher | undefined {
    return this.#trustedProxies;
  }

  /** The per-client limits, read live by ClientLimits on every admission. */
  clientLimits(): ClientLimitOptions {
    const settings = this;
    return {
      get maxConnectionsPerIp() {
        return settings.#limits.maxConnectionsPerIp;
      },
      get connectionRatePerIp() {
        return settings.#limits.connectionRatePerIp;
      },
    };
  }

  /** Replaces each group given, whole (fields left out return to their defaults); groups left out stay. Options must be checked first. */
  apply(options: ILiveOptions): void {
    if (options.timeouts !== undefined) this.#timeouts = withDefaults(defaultTimeouts, options.timeouts);
    if (options.limits !== undefined) this.#limits = withDefaults(defaultLimits, options.limits);
    if (options.trustedProxies !== undefined) this.#trustedProxies = compileTrusted(options.trustedProxies);
  }
}

function withDefaults<T extends object>(defaults: Required<T>, given: T | undefined): Readonly<Required<T>> {
  return Object.freeze({ ...defaults, ...given });
}

function compileTrusted(list: string[] | undefined): IpMatcher | undefined {
  return list === undefined || list.length === 0 ? undefined : compileIpMatcher(list);
}
