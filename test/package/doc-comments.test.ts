/**
 * Every export of the public surface (src/index.ts) has a doc comment, and every function,
 * class and constant among them an @example: the API reference (`npm run docs`) is generated
 * from these. The exports are followed through re-exports to their declarations.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '../../src');

interface Export {
  name: string;
  /** The declared name and the file that declares it. */
  orig: string;
  file: string;
}

/** Imported names of a file: local name → [original name, resolved file]. */
function importsOf(file: string, text: string): Map<string, [string, string]> {
  const map = new Map<string, [string, string]>();
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*'([^']+)'/g))
    for (const part of m[1]!.split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      if (!p) continue;
      const [orig, alias] = p.split(/\s+as\s+/).map((x) => x.trim());
      map.set(alias ?? orig!, [orig!, resolve(dirname(file), m[2]!)]);
    }
  return map;
}

/** Where `name` is declared, starting from `file` and following `export { … } from` and imports. */
function declaration(name: string, file: string, depth = 0): { file: string; name: string } | null {
  if (depth > 8) return null;
  const text = readFileSync(file, 'utf8');
  if (new RegExp(`^export\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(?:function|interface|class|const|type|let)\\s+${name}\\b`, 'm').test(text)) return { file, name };
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s*'([^']+)')?/g))
    for (const part of m[1]!.split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      const [orig, alias] = p.split(/\s+as\s+/).map((x) => x.trim());
      if ((alias ?? orig) !== name) continue;
      if (m[2]) return declaration(orig!, resolve(dirname(file), m[2]), depth + 1);
      const imported = importsOf(file, text).get(orig!);
      return imported ? declaration(imported[0], imported[1], depth + 1) : declaration(orig!, file, depth + 1);
    }
  return null;
}

function publicExports(): Export[] {
  const index = resolve(src, 'index.ts');
  const text = readFileSync(index, 'utf8');
  const names = new Set<string>();
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g))
    for (const part of m[1]!.split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      if (p) names.add(p.split(/\s+as\s+/).pop()!.trim());
    }
  for (const m of text.matchAll(/^export\s+(?:async\s+)?(?:function|interface|class|const|type)\s+(\w+)/gm)) names.add(m[1]!);
  return [...names].map((name) => {
    const d = declaration(name, index);
    return { name, orig: d?.name ?? name, file: d?.file ?? '(not found)' };
  });
}

/** The doc comment right above a declaration, and what is declared. */
function docOf(e: Export): { doc: string | null; kind: string } {
  const text = readFileSync(e.file, 'utf8');
  const m = new RegExp(`(/\\*\\*(?:(?!\\*/)[\\s\\S])*\\*/\\s*)?^export\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(function|interface|class|const|type|let)\\s+${e.orig}\\b`, 'm').exec(text);
  return { doc: m?.[1] ?? null, kind: m?.[2] ?? '?' };
}

describe('the public API', () => {
  const exports = publicExports();

  it('is found: every export of src/index.ts resolves to its declaration', () => {
    expect(exports.length).toBeGreaterThan(80);
    expect(exports.filter((e) => e.file === '(not found)').map((e) => e.name)).toEqual([]);
  });

  it('has a doc comment on every export, with an @example on every function, class and constant', () => {
    const missing: string[] = [];
    for (const e of exports) {
      if (e.file === '(not found)') continue;
      const { doc, kind } = docOf(e);
      const where = `${e.name} (${kind}, ${e.file.slice(src.length + 1)})`;
      if (!doc) missing.push(`${where}: no doc comment`);
      else if (!['interface', 'type'].includes(kind) && !doc.includes('@example')) missing.push(`${where}: no @example`);
    }
    expect(missing).toEqual([]);
  });
});
