/**
 * The layers of src/ (docs/architecture.md), checked on the import graph so that they cannot
 * regress silently: every relative import of every module under src/ (type-only imports
 * included) is read from the source text, and
 *  - no directory imports a directory of a higher layer;
 *  - no two directories import each other (no cycle through two directories);
 *  - the named rules of the issue hold: ir/, io/, parser/ import nothing of runtime/; dynamics/
 *    imports nothing of nth/; io/ loads no backend.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/**
 * The layers, lowest first. A directory may import its own layer's directories only where
 * listed in SIDEWAYS, and any lower layer. 'api' is src/api.ts (the model-level calls the studies
 * build on) and '.' is src/index.ts (the library entry, which re-exports both).
 */
const LAYERS: string[][] = [
  ['math'],
  ['parser'],
  ['io'],
  ['ir'],
  ['ad', 'runtime'],
  ['linalg'],
  ['evaluator'],
  ['lip', 'dynamics', 'nth'],
  ['symbolic', 'cluster', 'lang', 'plot'],
  ['api'],
  ['studies'],
  ['.'],
  ['cli'],
];
/** Imports within one layer that are allowed (from → to). */
const SIDEWAYS: ReadonlySet<string> = new Set(['nth→dynamics', 'dynamics→lip']);

function modules(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...modules(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The top directory of a module under src/ ('api' for src/api.ts, '.' for the other top-level files). */
const topOf = (file: string) => {
  const rel = relative(SRC, file).split('/');
  if (rel.length > 1) return rel[0]!;
  return rel[0] === 'api.ts' ? 'api' : '.';
};

/** Every relative import and re-export of the module (static, dynamic and type-only). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = new Set<string>();
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/g)) specs.add(m[1]!);
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) specs.add(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) specs.add(m[1]!);
  return [...specs].filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
}

const files = modules(SRC);
const edges = new Map<string, Map<string, string[]>>(); // from dir → to dir → importing files
for (const f of files) {
  const from = topOf(f);
  for (const target of importsOf(f)) {
    if (!target.startsWith(SRC)) continue;
    const to = topOf(target);
    if (to === from) continue;
    const row = edges.get(from) ?? new Map<string, string[]>();
    row.set(to, [...(row.get(to) ?? []), relative(SRC, f)]);
    edges.set(from, row);
  }
}
const layerOf = (d: string) => LAYERS.findIndex((l) => l.includes(d));

describe('the import graph of src/', () => {
  it('reads the modules and finds imports between directories', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.get('ad')?.has('ir')).toBe(true);
  });

  it('every directory has a layer', () => {
    const dirs = new Set(files.map(topOf));
    expect([...dirs].filter((d) => layerOf(d) < 0)).toEqual([]);
  });

  it('no directory imports a higher layer, nor its own layer unless listed', () => {
    const bad: string[] = [];
    for (const [from, row] of edges)
      for (const [to, by] of row) {
        const lf = layerOf(from), lt = layerOf(to);
        if (lt > lf || (lt === lf && !SIDEWAYS.has(`${from}→${to}`))) bad.push(`${from} → ${to} (${by.join(', ')})`);
      }
    expect(bad).toEqual([]);
  });

  it('no two directories import each other', () => {
    const mutual: string[] = [];
    for (const [from, row] of edges) for (const to of row.keys()) if (from < to && edges.get(to)?.has(from)) mutual.push(`${from} ↔ ${to}`);
    expect(mutual).toEqual([]);
  });

  it('ir/, io/ and parser/ import nothing of runtime/; dynamics/ nothing of nth/', () => {
    for (const d of ['ir', 'io', 'parser']) expect(edges.get(d)?.get('runtime') ?? [], d).toEqual([]);
    expect(edges.get('dynamics')?.get('nth') ?? []).toEqual([]);
  });
});
