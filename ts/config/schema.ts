/**
 * A small table-driven checker for option objects. Each option group is a
 * table of fields; each field says what it expects and whether it can change
 * while the proxy runs. Checking reports every problem at every depth
 * ("acme.useProdution: is not a known option (did you mean 'useProduction'?)"),
 * so a user fixes a config in one pass, and adding an option is one line.
 */
import { closest } from '../util/did-you-mean.js';

/** One problem with one option: `path` is dotted from the top (`acme.email`, `trustedProxies[1]`). */
export interface OptionProblem {
  path: string;
  message: string;
}

export type ReportProblem = (path: string, message: string) => void;

export interface FieldFlags {
  /** The option must be given (within its group, when the group is). Default: false. */
  required?: boolean;
  /** A running proxy applies a change to it (reload, updateOptions()); otherwise it needs a restart. Default: false. */
  live?: boolean;
  /** Only code can give it (a function or object): a config file cannot. Default: false. */
  codeOnly?: boolean;
}

export interface OptionField extends FieldFlags {
  /** Reports what is wrong with a value that is present; silent when it is fine. */
  check(value: unknown, path: string, report: ReportProblem): void;
  /** The nested table, for a group field. */
  readonly group?: OptionGroup;
}

export type OptionGroup = Readonly<Record<string, OptionField>>;

export interface CheckContext {
  /** Options read from a config file: code-only options are reported as such. Default: false. */
  fromFile?: boolean;
}

/** A field whose value passes `test`; otherwise "should be <expected>, instead got <value>". */
export function field(expected: string, test: (value: unknown) => boolean, flags: FieldFlags = {}): OptionField {
  return {
    ...flags,
    check(value, path, report) {
      if (!test(value)) report(path, `should be ${expected}, instead got ${show(value)}`);
    },
  };
}

/** A list whose every entry passes `entryProblem` (which returns what is wrong, or undefined). */
export function listOf(expected: string, entryProblem: (entry: unknown) => string | undefined, flags: FieldFlags = {}): OptionField {
  return {
    ...flags,
    check(value, path, report) {
      if (!Array.isArray(value)) return report(path, `should be ${expected}, instead got ${show(value)}`);
      value.forEach((entry: unknown, i) => {
        const problem = entryProblem(entry);
        if (problem !== undefined) report(`${path}[${i}]`, problem);
      });
    },
  };
}

/** A nested object checked against its own table. */
export function group(table: OptionGroup, flags: FieldFlags = {}): OptionField {
  return {
    ...flags,
    group: table,
    check(value, path, report) {
      if (!isPlainObject(value)) return report(path, `should be an object with any of ${Object.keys(table).join(', ')}, instead got ${show(value)}`);
      checkGroup(value, table, `${path}.`, report, {});
    },
  };
}

/** Checks an object against a table: unknown fields, missing required ones, and each value. */
export function checkGroup(value: Record<string, unknown>, table: OptionGroup, prefix: string, report: ReportProblem, context: CheckContext): void {
  const known = Object.keys(table);
  for (const key of Object.keys(value)) {
    const spec = table[key];
    if (spec === undefined) {
      const near = closest(key, known);
      report(`${prefix}${key}`, `is not a known option${near ? ` (did you mean '${near}'?)` : ''}`);
    } else if (context.fromFile && spec.codeOnly) {
      report(`${prefix}${key}`, 'can only be given in code (new SmartProxy({ … })), not in a config file');
    }
  }
  for (const [key, spec] of Object.entries(table)) {
    const item = value[key];
    if (item === undefined) {
      if (spec.required) report(`${prefix}${key}`, 'is required');
      continue;
    }
    if (context.fromFile && spec.codeOnly) continue;
    spec.check(item, `${prefix}${key}`, report);
  }
}

/** Every problem with `options` against the top-level table. */
export function checkAgainst(options: unknown, table: OptionGroup, context: CheckContext = {}): OptionProblem[] {
  const problems: OptionProblem[] = [];
  const report: ReportProblem = (path, message) => problems.push({ path, message });
  if (!isPlainObject(options)) report('options', `should be an object, instead got ${show(options)}`);
  else checkGroup(options, table, '', report, context);
  return problems;
}

/** The field a dotted path names (`acme.email`), or undefined. */
export function fieldAt(table: OptionGroup, path: string): OptionField | undefined {
  let spec: OptionField | undefined;
  let current: OptionGroup | undefined = table;
  for (const part of path.split('.')) {
    spec = current?.[part];
    if (spec === undefined) return undefined;
    current = spec.group;
  }
  return spec;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value named for a message; objects are named, not printed (String() throws on some). */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
