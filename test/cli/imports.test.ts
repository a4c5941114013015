/**
 * The CLI's import rule: the command line parses arguments, calls the public API of
 * src/index.ts and formats; it imports nothing else of src/ but io utilities (src/io/). Every
 * study a command runs is then a library call a script can make too.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cliDir = join(root, 'src/cli');

/** The module specifiers of a source: static imports and re-exports, and dynamic import('…'). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The imports of a file of src/cli that break the rule (paths relative to src/). */
function violations(file: string, source: string): string[] {
  return specifiers(source)
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(join(root, 'src'), resolve(dirname(file), s)))
    .filter((p) => !(p.startsWith('cli/') || p === 'index.ts' || p.startsWith('io/')));
}

describe('the CLI imports only src/index.ts (and io utilities) of the library', () => {
  it('finds a violation where there is one (the rule can fail)', () => {
    const f = join(cliDir, 'x.ts');
    expect(violations(f, "import { flow } from '../dynamics/flow.ts';\nimport { out } from './options.ts';")).toEqual(['dynamics/flow.ts']);
    expect(violations(f, "export { a } from '../nth/hierarchy.ts';")).toEqual(['nth/hierarchy.ts']);
    expect(violations(f, "const m = await import('../lip/index.ts');")).toEqual(['lip/index.ts']);
    expect(violations(f, "import {\n  a,\n  b,\n} from '../runtime/backends.ts';")).toEqual(['runtime/backends.ts']);
    expect(violations(f, "import { writeFileAtomic } from '../io/atomic.ts';\nimport { ntk } from '../index.ts';")).toEqual([]);
  });

  const files = readdirSync(cliDir).filter((f) => f.endsWith('.ts'));
  it('covers the command files', () => {
    expect(files).toEqual(expect.arrayContaining(['main.ts', 'options.ts', 'model.ts', 'flow.ts', 'hierarchy.ts']));
  });
  for (const f of files)
    it(`src/cli/${f}`, () => {
      const file = join(cliDir, f);
      expect(violations(file, readFileSync(file, 'utf8'))).toEqual([]);
    });
});
