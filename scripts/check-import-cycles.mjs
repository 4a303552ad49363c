#!/usr/bin/env node
// Fails (exit 1) when the modules under ts/ import each other in a cycle,
// `import type` and `export … from` included: a type-only cycle still ties
// two files together (a public option type that imports an implementation
// file drags that file into every user's type-check). Prints each cycle
// once. Usage: node scripts/check-import-cycles.mjs [dir]  (default: ts)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..', 'ts'));
const specifier = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/** Every .ts file under dir. */
function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** The graph: file → files it imports (relative specifiers, .js mapped to .ts). */
export function importGraph(dir) {
  const graph = new Map();
  for (const file of sources(dir)) {
    const text = readFileSync(file, 'utf8');
    const targets = new Set();
    for (const match of text.matchAll(specifier)) targets.add(resolve(dirname(file), match[1].replace(/\.js$/, '.ts')));
    graph.set(file, [...targets].filter((target) => target !== file));
  }
  return graph;
}

/** Every elementary cycle found by a depth-first walk, each reported once (rotated to start at its smallest name). */
export function findCycles(graph) {
  const cycles = new Map();
  const state = new Map(); // 1: on the stack, 2: done
  const stack = [];
  const visit = (file) => {
    state.set(file, 1);
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 1) {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join('>'), rotated);
      } else if (state.get(next) === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, 2);
  };
  for (const file of [...graph.keys()].sort()) if (state.get(file) === undefined) visit(file);
  return [...cycles.values()];
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-import-cycles.mjs')) {
  const cycles = findCycles(importGraph(root));
  for (const cycle of cycles) {
    const names = cycle.map((file) => relative(root, file));
    console.error(`import cycle: ${[...names, names[0]].join(' -> ')}`);
  }
  if (cycles.length > 0) {
    console.error(`${cycles.length} import cycle${cycles.length === 1 ? '' : 's'} under ${relative(process.cwd(), root) || '.'}: move the shared types into a file both can import`);
    process.exit(1);
  }
  console.log(`no import cycles under ${relative(process.cwd(), root) || '.'}`);
}
