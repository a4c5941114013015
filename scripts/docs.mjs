// `npm run docs`: the API reference of src/index.ts into docs/api/ (HTML), by TypeDoc. TypeDoc
// needs TypeScript's JavaScript API (TypeScript 5.x–6.0), which the project's compiler,
// TypeScript 7, no longer has; so TypeDoc and a TypeScript 6 for it live in their own folder,
// tools/typedoc/, with their own lockfile, installed here on first use (npm ci, once).
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { root } from './startup.mjs';

const tools = resolve(root, 'tools/typedoc');
const typedoc = resolve(tools, 'node_modules/typedoc/bin/typedoc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
if (!existsSync(typedoc)) {
  console.log('docs: installing TypeDoc into tools/typedoc (once)');
  const ci = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: tools, stdio: 'inherit' });
  if (ci.status !== 0) process.exit(ci.status ?? 1);
}
// Into a new folder, which replaces docs/api only when TypeDoc succeeded.
const out = resolve(root, 'docs/api');
const tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
const run = spawnSync(process.execPath, [typedoc, '--options', resolve(tools, 'typedoc.json'), '--treatWarningsAsErrors', '--out', tmp], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  process.exit(run.status ?? 1);
}
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
