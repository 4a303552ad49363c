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

/**
 * The three kinds of path pattern the matcher tells apart. Exported so the
 * route graph reasons about a pattern exactly as the matcher compiles it.
 * - `exact`: no glob characters; matches that path only.
 * - `prefix`: `/p/*` or `/p/**` with a literal `p`; matches `p` and below.
 * - `glob`: anything else; `literal` is the text before the first glob character.
 */
export type PathPatternShape =
  | { kind: 'exact'; path: string }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'glob'; pattern: string; literal: string };

/** Which of the three kinds `pattern` is; compilePathMatcher builds its matcher from this. */
export function pathPatternShape(pattern: string): PathPatternShape {
  if (!globChars.test(pattern)) return { kind: 'exact', path: pattern };
  const prefix = pattern.endsWith('/*') || pattern.endsWith('/**') ? pattern.slice(0, pattern.lastIndexOf('/')) : undefined;
  if (prefix !== undefined && !globChars.test(prefix)) return { kind: 'prefix', prefix };
  return { kind: 'glob', pattern, literal: pattern.slice(0, pattern.search(globChars)) };
}

export function compilePathMatcher(pattern: string): PathMatcher {
  const shape = pathPatternShape(pattern);
  if (shape.kind === 'exact') {
    return { pattern, specificity: 100_000 + pattern.length, matches: (path) => path === pattern };
  }
  if (shape.kind === 'prefix') {
    const { prefix } = shape;
    const withSlash = prefix + '/';
    return {
      pattern,
      specificity: withSlash.length,
      matches: (path) => path === prefix || path.startsWith(withSlash),
    };
  }
  const glob = new Minimatch(pattern, { dot: true, nocomment: true, nonegate: true });
  return { pattern, specificity: shape.literal.length, matches: (path) => glob.match(path) };
}
