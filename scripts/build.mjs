// Bundles the command line (and the benchmark) with esbuild: one file to load instead of hundreds
// of modules, which keeps `ntk`'s start-up short; bundles the library (dist/index.js, index.cjs)
// and writes its declarations (dist/types); compiles the WASM kernels; records V8's code
// cache of the command's bundle, so that `ntk` skips most of its JavaScript compilation; and
// saves the start-up snapshot, from which `ntk` starts with all of that already done.
import { build } from 'esbuild';
import { buildWasm } from './wasm.mjs';
import { makeSnapshot, recordCodeCache, removeSnapshot } from './startup.mjs';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// A start-up snapshot holds the previous bundle: gone before the bundle changes.
removeSnapshot();
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
  external: ['@resvg/resvg-js', 'vega', 'vega-lite', 'mathjs', 'vscode-languageserver', 'vscode-languageserver-textdocument'],
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

// The library (src/index.ts, what `import … from 'ntk-lab'` loads): an ES module and a CommonJS
// twin, not minified, dependencies left to node_modules. Both sit in dist/ next to the command's
// bundle, so that their modules find kernels.wasm and the addon as the command's do (from
// import.meta.url, which the CommonJS one takes from its own file name). The source maps point
// at src/, which the package ships; the declarations come from tsc (below).
const library = {
  ...common,
  minify: false,
  packages: 'external',
  sourcesContent: false,
  entryPoints: [resolve(root, 'src/index.ts')],
};
await build({ ...library, outfile: resolve(root, 'dist/index.js'), format: 'esm' });
await build({
  ...library,
  outfile: resolve(root, 'dist/index.cjs'),
  format: 'cjs',
  banner: { js: 'var __ntkUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__ntkUrl' },
});
buildDeclarations();

/**
 * dist/types/: the library's declarations and their maps, by tsc (tsconfig.build.json). The
 * sources import each other with their .ts extension; in the declarations those specifiers
 * become .js, which a consumer's TypeScript resolves to the .d.ts next to it under any module
 * resolution and without allowImportingTsExtensions.
 */
function buildDeclarations() {
  const types = resolve(root, 'dist/types');
  rmSync(types, { recursive: true, force: true });
  const tsc = resolve(root, 'node_modules/typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', resolve(root, 'tsconfig.build.json')], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`build: the declarations did not compile:\n${run.stdout}${run.stderr}`);
  for (const file of readdirSync(types, { recursive: true })) {
    if (!String(file).endsWith('.d.ts')) continue;
    const path = resolve(types, String(file));
    const text = readFileSync(path, 'utf8');
    const fixed = text.replace(/((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2');
    if (fixed !== text) writeFileSync(path, fixed);
    writeFileSync(path.replace(/\.d\.ts$/, '.d.cts'), commonJsDeclarations(fixed));
  }
}

/**
 * The CommonJS twin of a declaration file (x.d.ts → x.d.cts, for package.json's
 * exports["."].require.types). The package is "type": "module", so TypeScript reads every .d.ts
 * of it as an ES module, and a CommonJS consumer under moduleResolution node16/nodenext gets
 * TS1471 ("cannot be imported using this construct") from `require('ntk-lab')` if the only types
 * are those; TypeScript's documented answer for a dual package is one declaration tree per
 * format. The twin's relative imports name the twins (.js → .cjs), and its type-only imports of
 * packages (chevrotain, mathjs: ES modules) say so with resolution-mode (TS1541/TS1542 otherwise). No map: a
 * go-to-definition lands in the .d.cts itself.
 */
function commonJsDeclarations(text) {
  return text
    .replace(/((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*?)\.js(['"])/g, '$1.cjs$2')
    .replace(/^(import type [^;]* from '[^.'][^']*');$/gm, "$1 with { 'resolution-mode': 'import' };")
    // type queries of a package, typeof import('mathjs'): the same, as an import attribute
    .replace(/\bimport\((['"])([^.'"][^'"]*)\1\)/g, "import($1$2$1, { with: { 'resolution-mode': 'import' } })")
    .replace(/^\/\/# sourceMappingURL=.*\n?/m, '');
}

// The WASM SIMD kernels, from their WAT source (throws, failing the build, if it does not compile).
await buildWasm();

// The code cache, then the start-up snapshot, which contains it (scripts/startup.mjs). Neither is
// fatal: without them `ntk` starts from its bundle, as it does with NTK_SNAPSHOT=off.
recordCodeCache();
const snapshot = makeSnapshot();
if (!snapshot.ok) console.warn(`build: no start-up snapshot (${snapshot.why}); ntk will start from its bundle`);
