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
