// Every type a public signature mentions is exported from the package entry
// point, so a user can name what they are handed. The compiler walks each
// export of ts/index.ts (public members of classes, interface members, type
// aliases, parameters and return types, recursively through the types they
// name) and fails on a type declared in ts/ that index.ts does not export.
// Inferred (unannotated) types are not seen; public members are annotated.
import t from 'tap';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const sourceDir = join(root, 'ts');

function publicTypeProblems(): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram([join(sourceDir, 'index.ts')], config.options);
  const checker = program.getTypeChecker();
  const index = program.getSourceFile(join(sourceDir, 'index.ts'))!;
  const resolve = (symbol: ts.Symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
  const exported = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(index)!).map(resolve));
  const problems = new Set<string>();
  const seen = new Set<ts.Node>();

  const isOurs = (node: ts.Node) => node.getSourceFile().fileName.startsWith(sourceDir);
  const isHidden = (node: ts.Node) =>
    (ts.isClassElement(node) && node.name !== undefined && ts.isPrivateIdentifier(node.name)) ||
    (ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword));

  const visitDeclaration = (declaration: ts.Node, from: string): void => {
    if (seen.has(declaration) || !isOurs(declaration)) return;
    seen.add(declaration);
    const walk = (node: ts.Node): void => {
      if (isHidden(node) || ts.isBlock(node)) return; // private members and function bodies are not the surface
      if (ts.isVariableDeclaration(node) && node.type === undefined) return;
      if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
        const name = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
        const symbol = checker.getSymbolAtLocation(name);
        if (symbol !== undefined) {
          const target = resolve(symbol);
          for (const decl of target.declarations ?? []) {
            if (!isOurs(decl) || ts.isTypeParameterDeclaration(decl)) continue;
            if (!exported.has(target)) problems.add(`${target.name} (named by ${from}) is not exported from ts/index.ts`);
            visitDeclaration(decl, target.name);
          }
        }
      }
      ts.forEachChild(node, walk);
    };
    ts.forEachChild(declaration, walk);
  };
  for (const symbol of exported) for (const declaration of symbol.declarations ?? []) visitDeclaration(declaration, symbol.name);
  return [...problems].sort();
}

t.test('every type named by a public signature is exported', async (t) => {
  t.same(publicTypeProblems(), []);
});
