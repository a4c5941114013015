/**
 * The API reference stays complete: every export of src/index.ts has a doc comment, and every
 * function, class and constant an @example (`npm run check-docs`, the project's rule); and the
 * committed reference docs/api (`npm run docs`, TypeDoc) has a page for exactly the exports of
 * src/index.ts — an export added or removed without regenerating it fails here. (Regenerating
 * it in the test would install TypeDoc: tools/typedoc has its own lockfile.)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const checkDocs = (args: string[] = [], cwd = root) =>
  spawnSync(process.execPath, [join(cwd, 'scripts/check-docs.mjs'), ...args], { cwd, encoding: 'utf8' });

describe('the API reference', () => {
  it('npm run check-docs finds every export documented, with an example', () => {
    const r = checkDocs();
    expect(r.stdout).toMatch(/^\d+ exports of src\/index\.ts; 0 without what they need:\n$/);
    expect(r.status).toBe(0);
  });

  it('check-docs fails, naming it, on an export without a doc comment or an example', () => {
    // a copy of the checker and of src/ with one undocumented export added
    const dir = mkdtempSync(join(tmpdir(), 'ntk-check-docs-'));
    try {
      cpSync(join(root, 'scripts/check-docs.mjs'), join(dir, 'scripts/check-docs.mjs'));
      cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
      writeFileSync(join(dir, 'src/extra.ts'), '/** Documented, without an example. */\nexport function documented(): number {\n  return 1;\n}\nexport interface Bare {\n  x: number;\n}\n');
      writeFileSync(join(dir, 'src/index.ts'), `export { documented, type Bare } from './extra.ts';\n`, { flag: 'a' });
      const r = checkDocs([], dir);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/ 2 without what they need:\n/);
      expect(r.stdout).toContain('documented (function, extra.ts): no @example');
      expect(r.stdout).toContain('Bare (interface, extra.ts): no doc comment');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('docs/api has a page for exactly the exports of src/index.ts (regenerate it with npm run docs)', () => {
    const names = checkDocs(['--names']).stdout.trim().split('\n').sort();
    const api = join(root, 'docs/api');
    const pages = ['classes', 'functions', 'interfaces', 'types', 'variables']
      .flatMap((d) => readdirSync(join(api, d)).filter((f) => f.endsWith('.html')).map((f) => f.slice(0, -'.html'.length)))
      .sort();
    expect(pages).toEqual(names);
  });
});
