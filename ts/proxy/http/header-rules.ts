/**
 * Route header rules (`headers: { request?, response? }`, SmartProxy v19
 * parity): a string sets a header, `null` removes it. Compiled once per
 * route config; applied by message-rules.ts, the one place both engines
 * build heads, so the rules hold on every engine.
 */
import type { IRouteConfig } from '../../routing/types.js';
import { encodeControls } from '../templates.js';

/** Placeholders a rule's value may use. */
export const headerTemplateNames = ['clientIp', 'domain', 'path', 'port', 'route'] as const;

/** What the placeholders expand to for one request. */
export interface HeaderTemplateValues {
  readonly clientIp: string;
  readonly domain?: string | undefined;
  readonly path?: string | undefined;
  readonly port: number;
  readonly route?: string | undefined;
}

interface HeaderRule {
  readonly name: string;
  readonly lower: string;
  /** The value (may hold placeholders), or null to remove the header. */
  readonly value: string | null;
  readonly templated: boolean;
}

export interface HeaderRules {
  readonly request: readonly HeaderRule[];
  readonly response: readonly HeaderRule[];
}

/**
 * Headers no rule may set or remove: the framing of a message is the
 * proxy's (a rule-made Content-Length would desynchronise the next hop), and
 * hop-by-hop headers belong to one connection. Host may be set but not
 * removed: the next hop refuses a request without it.
 */
const forbidden: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);
const tokenName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const placeholder = /\{(clientIp|domain|path|port|route)\}/g;

/** Why a rule cannot be used (validation), or undefined when it can. */
export function headerRuleProblem(name: string, value: unknown): string | undefined {
  if (!tokenName.test(name)) return 'is not a valid header name';
  const lower = name.toLowerCase();
  if (forbidden.has(lower)) return 'is a framing or hop-by-hop header the proxy writes itself; it cannot be set or removed';
  if (value === null) return lower === 'host' ? 'cannot be removed: the next hop needs a Host' : undefined;
  if (typeof value !== 'string') return 'should be a string (sets the header) or null (removes it)';
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) return 'should not contain control characters (CR/LF)';
  return undefined;
}

const compiled = new WeakMap<object, HeaderRules>();

/** The route's compiled rules, or undefined when it has none (the common case costs one property read). */
export function headerRulesOf(config: IRouteConfig): HeaderRules | undefined {
  const headers = config.headers;
  if (headers === undefined) return undefined;
  let rules = compiled.get(headers);
  if (rules === undefined) {
    rules = { request: compile(headers.request), response: compile(headers.response) };
    compiled.set(headers, rules);
  }
  return rules;
}

function compile(side: Record<string, string | null> | undefined): HeaderRule[] {
  if (side === undefined) return [];
  return Object.entries(side).map(([name, value]) => ({ name, lower: name.toLowerCase(), value, templated: value !== null && value.includes('{') }));
}

/** Applies rules to raw headers ([name, value, …]) in place: every header a rule names is dropped, then the set ones appended. */
export function applyHeaderRules(headers: string[], rules: readonly HeaderRule[], values: HeaderTemplateValues): void {
  if (rules.length === 0) return;
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const lower = headers[r]!.toLowerCase();
    if (rules.some((rule) => rule.lower === lower)) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
  for (const rule of rules) {
    if (rule.value === null) continue;
    headers.push(rule.name, rule.templated ? expand(rule.value, values) : rule.value);
  }
}

function expand(template: string, values: HeaderTemplateValues): string {
  return template.replace(placeholder, (_match, name: (typeof headerTemplateNames)[number]) => encodeControls(String(values[name] ?? '')));
}
