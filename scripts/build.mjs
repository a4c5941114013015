// Bundles the command line (and the benchmark) with esbuild: one file to load instead of hundreds
// of modules, which keeps `ntk`'s start-up short; compiles the WASM kernels; records V8's code
// cache of the command's bundle, so that `ntk` skips most of its JavaScript compilation; and
// saves the start-up snapshot, from which `ntk` starts with all of that already done.
import { build } from 'esbuild';
import { buildWasm } from './wasm.mjs';
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// A start-up snapshot holds the previous bundle: gone before the bundle changes (see buildSnapshot).
rmSync(resolve(root, 'dist/ntk.blob'), { force: true });
rmSync(resolve(root, 'dist/ntk.blob.env'), { force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  // Half the bytes to parse at every start (1.06 MB → 0.5 MB; about 15–30 ms of a 0.3–0.8 s
  // process here); names are kept, so error classes and profiles still read as in the source.
  minify: true,
  keepNames: true,
  // Loaded at run time from node_modules: a native module, the plotting libraries, and the
  // language server's protocol libraries (only `ntk lsp` loads them).
  external: ['@resvg/resvg-js', 'vega', 'vega-lite', 'vscode-languageserver', 'vscode-languageserver-textdocument'],
  logLevel: 'warning',
};

// The command: CommonJS, so that bin/ntk.js can compile it as a classic script with a code cache
// (vm.Script's cachedData; ES modules have none in Node 20) and worker threads can run the file
// directly. Its modules locate their neighbours (the addon, kernels.wasm) from import.meta.url,
// which becomes the bundle's own URL.
// commander requires node:child_process at load for executable subcommands, which `ntk` has
// none of; the built-in is not in Node's start-up snapshot and cost every start ~5 ms. Within
// commander it resolves to a stand-in that loads the real module if a spawn is ever asked for.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) };",
      loader: 'js',
    }));
  },
};

await build({
  ...common,
  plugins: [lazyChildProcess],
  entryPoints: [resolve(root, 'src/cli/entry.ts')],
  outfile: resolve(root, 'dist/ntk.cjs'),
  format: 'cjs',
  banner: { js: 'var __ntkUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__ntkUrl' },
});

// The benchmark and the data generator: ES modules. CommonJS dependencies call require() on Node
// built-ins; give the bundle one.
await build({
  ...common,
  entryPoints: { bench: resolve(root, 'bench/bench.ts'), 'make-data': resolve(root, 'scripts/make-data.ts') },
  outdir: resolve(root, 'dist'),
  format: 'esm',
  banner: { js: "import { createRequire as __ntkCreateRequire } from 'node:module';\nconst require = __ntkCreateRequire(import.meta.url);" },
});

// The WASM SIMD kernels, from their WAT source (throws, failing the build, if it does not compile).
await buildWasm();

// The code cache: bin/ntk.js records it at exit when NTK_CODE_CACHE=write, holding the bytecode of
// every function compiled so far; each run below starts from the previous run's cache, so it
// accumulates what parsing, kernels, flows and the printers compile. A cache from another build or
// another Node is rejected by V8 and ignored (see bin/ntk.js), so this only ever makes starts faster.
rmSync(resolve(root, 'dist/ntk.cjs.cache'), { force: true });
const warmUps = [
  ['kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=8', '--json'],
  ['kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=8'],
  ['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--json'],
  ['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10'],
];
for (const args of warmUps) {
  const run = spawnSync(process.execPath, [resolve(root, 'bin/ntk.js'), ...args], {
    cwd: root,
    env: { ...process.env, NTK_CODE_CACHE: 'write' },
    encoding: 'utf8',
  });
  // Not fatal: without the cache `ntk` only starts more slowly.
  if (run.status !== 0) console.warn(`build: the code-cache warm-up 'ntk ${args.join(' ')}' failed (${run.stderr.trim().split('\n')[0]}); ntk will start without it`);
}

// The start-up snapshot (src/cli/snapshot.ts), built after the code cache, which it contains.
// bin/ntk.js's POSIX launcher restores it when dist/ntk.blob.env names the node on PATH (the one
// that built it, not upgraded since) and this bundle. The blob is checked by restoring it once
// (a blob Node cannot read crashes it, so a bad one must never be left in place); any failure
// here is not fatal: ntk then starts from the bundle, as it does with NTK_SNAPSHOT=off.
function buildSnapshot() {
  const blob = resolve(root, 'dist/ntk.blob');
  const env = resolve(root, 'dist/ntk.blob.env');
  rmSync(blob, { force: true });
  rmSync(env, { force: true });
  const tmp = `${blob}.tmp`;
  const made = spawnSync(process.execPath, ['--no-warnings', '--snapshot-blob', tmp, '--build-snapshot', resolve(root, 'scripts/snapshot.cjs')], {
    cwd: root,
    encoding: 'utf8',
  });
  const version = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).version;
  const restored = made.status === 0 ? spawnSync(process.execPath, ['--snapshot-blob', tmp, '--', '--version'], { encoding: 'utf8' }) : null;
  if (!restored || restored.status !== 0 || restored.stdout.trim() !== version) {
    rmSync(tmp, { force: true });
    const why = (made.status !== 0 ? made.stderr : restored?.stderr || `printed '${restored?.stdout.trim()}'`).trim().split('\n')[0];
    console.warn(`build: no start-up snapshot (${why}); ntk will start from its bundle`);
    return;
  }
  writeFileSync(`${env}.tmp`, `${process.execPath}\n${resolve(root, 'dist/ntk.cjs')}\n`);
  renameSync(tmp, blob);
  renameSync(`${env}.tmp`, env);
}
buildSnapshot();
