// Every ```ts block in readme.md compiles as written against the package's
// types, or is marked as a fragment. The convention: a block whose info
// string is `ts fragment` (GitHub still highlights it as TypeScript) is a
// listing or an excerpt, not a program, and is not compiled. Each other
// block is its own module (top-level await allowed) importing 'smartproxy',
// which resolves to ts/index.ts.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');

function blocks(markdown: string): { info: string; code: string; line: number }[] {
  const found: { info: string; code: string; line: number }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S.*)?$/.exec(lines[i]!);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    found.push({ info: (open[1] ?? '').trim(), code: body.join('\n'), line: start + 1 });
  }
  return found;
}

t.test('every ts block in readme.md compiles, or is marked `ts fragment`', async (t) => {
  const readme = await readFile(join(root, 'readme.md'), 'utf8');
  const all = blocks(readme).filter((b) => b.info === 'ts' || b.info.startsWith('ts '));
  const programs = all.filter((b) => b.info === 'ts');
  t.ok(programs.length >= 5, `${programs.length} blocks compiled, ${all.length - programs.length} fragments`);
  t.same(all.filter((b) => b.info !== 'ts' && b.info !== 'ts fragment').map((b) => `line ${b.line}: ${b.info}`), [], 'no other ts info strings');

  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-readme-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files: string[] = [];
  for (const block of programs) {
    const file = join(dir, `readme-line-${block.line}.mts`);
    // `export {}` makes every block a module, so top-level await is allowed and names do not clash.
    await writeFile(file, `${block.code}\nexport {};\n`);
    files.push(file);
  }
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    baseUrl: root,
    paths: { smartproxy: [join(root, 'ts', 'index.ts')], 'smartproxy/redis': [join(root, 'ts', 'redis', 'index.ts')] },
    allowImportingTsExtensions: true,
    noUnusedLocals: false,
  });
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file !== undefined && files.includes(d.file.fileName))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const blockLine = Number(/readme-line-(\d+)/.exec(d.file!.fileName)![1]);
      return `readme.md:${blockLine + 1 + line} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
  t.same(problems, [], 'the blocks type-check');
});
