// `npm run check-docs`: lists the exports of the public surface (src/index.ts) without a doc
// comment, and the functions, classes and constants among them without an @example (the API
// reference, `npm run docs`, is generated from these; the project's rule is that every export
// has both). Exports are followed through re-exports to their declarations. Exit 1 if any.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const src = resolve(import.meta.dirname, '../src');


/** Imported names of a file: local name → [original name, resolved file]. */
function importsOf(file, text) {
  const map = new Map();
  for (const m of text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*'([^']+)'/g))
    for (const part of m[1].split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      if (!p) continue;
      const [orig, alias] = p.split(/\s+as\s+/).map((x) => x.trim());
      map.set(alias ?? orig, [orig, resolve(dirname(file), m[2])]);
    }
  return map;
}

/** Where `name` is declared, starting from `file` and following `export { … } from` and imports. */
function declaration(name, file, depth = 0) {
  if (depth > 8) return null;
  const text = readFileSync(file, 'utf8');
  if (new RegExp(`^export\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(?:function|interface|class|const|type|let)\\s+${name}\\b`, 'm').test(text)) return { file, name };
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s*'([^']+)')?/g))
    for (const part of m[1].split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      const [orig, alias] = p.split(/\s+as\s+/).map((x) => x.trim());
      if ((alias ?? orig) !== name) continue;
      if (m[2]) return declaration(orig, resolve(dirname(file), m[2]), depth + 1);
      const imported = importsOf(file, text).get(orig);
      return imported ? declaration(imported[0], imported[1], depth + 1) : declaration(orig, file, depth + 1);
    }
  return null;
}

function publicExports() {
  const index = resolve(src, 'index.ts');
  const text = readFileSync(index, 'utf8');
  const names = new Set();
  for (const m of text.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g))
    for (const part of m[1].split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      if (p) names.add(p.split(/\s+as\s+/).pop().trim());
    }
  for (const m of text.matchAll(/^export\s+(?:async\s+)?(?:function|interface|class|const|type)\s+(\w+)/gm)) names.add(m[1]);
  return [...names].map((name) => {
    const d = declaration(name, index);
    return { name, orig: d?.name ?? name, file: d?.file ?? '(not found)' };
  });
}

/** The doc comment right above a declaration, and what is declared. */
function docOf(e) {
  const text = readFileSync(e.file, 'utf8');
  const m = new RegExp(`(/\\*\\*(?:(?!\\*/)[\\s\\S])*\\*/\\s*)?^export\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(function|interface|class|const|type|let)\\s+${e.orig}\\b`, 'm').exec(text);
  return { doc: m?.[1] ?? null, kind: m?.[2] ?? '?' };
}

const exports = publicExports();
// `--names`: only the exported names, one a line (test/package/docs.test.ts compares them with
// the pages of docs/api).
if (process.argv.includes('--names')) {
  console.log(exports.map((e) => e.name).sort().join('\n'));
  process.exit(0);
}
const missing = [];
for (const e of exports) {
  if (e.file === '(not found)') { missing.push(`${e.name}: declaration not found`); continue; }
  const { doc, kind } = docOf(e);
  const where = `${e.name} (${kind}, ${e.file.slice(src.length + 1)})`;
  if (!doc) missing.push(`${where}: no doc comment`);
  else if (!['interface', 'type'].includes(kind) && !doc.includes('@example')) missing.push(`${where}: no @example`);
}
console.log(`${exports.length} exports of src/index.ts; ${missing.length} without what they need:`);
for (const m of missing) console.log(`  ${m}`);
process.exit(missing.length > 0 ? 1 : 0);
