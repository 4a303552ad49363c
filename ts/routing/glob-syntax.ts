/**
 * Why a glob would not mean what its author wrote, or undefined. minimatch
 * reads an unclosed `[` or `{` as a literal character, so `'/api/[v1'`
 * silently matches nothing; validation says so instead.
 *
 * `braces`: whether `{a,b}` alternation is part of the syntax (paths) or not (domains).
 */
export function globSyntaxProblem(pattern: string, braces: boolean): string | undefined {
  let classStart = -1;
  let braceDepth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (classStart !== -1) {
      if (c !== ']') continue;
      if (i === classStart + 1) return `'${pattern}' has an empty [] character class`;
      classStart = -1;
    } else if (c === '[') {
      classStart = i;
    } else if (c === ']') {
      return `'${pattern}' has a ']' without a matching '['`;
    } else if (braces && c === '{') {
      braceDepth++;
    } else if (braces && c === '}') {
      if (braceDepth === 0) return `'${pattern}' has a '}' without a matching '{'`;
      braceDepth--;
    }
  }
  if (classStart !== -1) return `'${pattern}' has a '[' that is never closed`;
  if (braceDepth !== 0) return `'${pattern}' has a '{' that is never closed`;
  return undefined;
}
