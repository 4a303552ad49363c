import { Minimatch } from 'minimatch';
import { globSyntaxProblem } from './glob-syntax.js';

/**
 * A request-path matcher compiled once per route update.
 *
 * - `/exact` matches that path only.
 * - `/prefix/*` matches `/prefix`, `/prefix/` and everything below it, as an
 *   nginx `location` prefix would (a plain glob `*` stops at `/`, which is
 *   never what a proxy user means).
 * - any other glob (`/files/*.png`, `/a/**\/b`) goes to minimatch.
 */
export interface PathMatcher {
  readonly pattern: string;
  /** Higher is more specific: literal characters, with exact paths above any glob. */
  readonly specificity: number;
  matches(path: string): boolean;
}

const globChars = /[*?[\]{}!+@()]/;

export function pathPatternProblem(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string' || !pattern.startsWith('/')) return "should be a path starting with '/'";
  if (/[\s\u0000-\u001f\u007f]/.test(pattern)) return 'should not contain whitespace or control characters';
  if (pattern.length > 2048) return 'should be at most 2048 characters';
  return globSyntaxProblem(pattern, true);
}

export function compilePathMatcher(pattern: string): PathMatcher {
  if (!globChars.test(pattern)) {
    return { pattern, specificity: 100_000 + pattern.length, matches: (path) => path === pattern };
  }
  const prefix = pattern.endsWith('/*') || pattern.endsWith('/**') ? pattern.slice(0, pattern.lastIndexOf('/')) : undefined;
  if (prefix !== undefined && !globChars.test(prefix)) {
    const withSlash = prefix + '/';
    return {
      pattern,
      specificity: withSlash.length,
      matches: (path) => path === prefix || path.startsWith(withSlash),
    };
  }
  const glob = new Minimatch(pattern, { dot: true, nocomment: true, nonegate: true });
  const literal = pattern.slice(0, pattern.search(globChars));
  return { pattern, specificity: literal.length, matches: (path) => glob.match(path) };
}
