/** The small shape checks every route validator shares, so a field error reads the same wherever it is found. */
import { closest } from '../util/did-you-mean.js';

/** Where a validator reports one problem: a dotted path and a message. */
export type Report = (path: string, message: string) => void;
export type Obj = Record<string, unknown>;

/** Reports each field of `object` not in `known`, with the field the user most likely meant. */
export function unknownKeys(object: Obj, known: string[], prefix: string, report: Report): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    report(`${prefix}${key}`, `is not a known field${near ? ` (did you mean '${near}'?)` : ''}`);
  }
}

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

/** A value as an error message names it. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  // String() throws on objects without a prototype (found by fuzzing), so objects are named, not printed.
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
