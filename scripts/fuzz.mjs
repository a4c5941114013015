// `npm run fuzz`: bundles scripts/fuzz-main.ts (esbuild) to dist/fuzz.mjs and runs it with the
// arguments given; the CLI part runs dist/ntk.cjs, built by `npm run build`.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [resolve(root, 'scripts/fuzz-main.ts')], outfile: resolve(root, 'dist/fuzz.mjs'),
  bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning',
  external: ['@resvg/resvg-js', 'vega', 'vega-lite'],
  banner: { js: "import { createRequire as __ntkCreateRequire } from 'node:module'; const require = __ntkCreateRequire(import.meta.url);" },
});
const r = spawnSync(process.execPath, [resolve(root, 'dist/fuzz.mjs'), ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
