// Builds the browser playground (playground/) into a static folder, playground/dist/: the page
// (CodeMirror editor, panels), its worker (the library with the WASM backend), the WASM kernels,
// KaTeX's fonts and every example of examples/. It works from any static server.
//
//   npm run playground                 build
//   npm run playground -- --serve      build, then serve it on http://localhost:8137 (--port N)
//   npm run playground -- --serve --no-build   serve the last build
//   npm run playground -- --out DIR    build into (or serve, with --no-build) DIR instead of playground/dist
//   npm run playground -- --analyze    also print what the worker's and the page's bundles are made of
//   npm run playground -- --no-minify  readable bundles (for a profile)
//
// The library imports a few Node built-ins (fs for data files, os for the memory budget, the
// native addon's loader) on paths the page takes; instead of forking the library, the bundle maps
// them to small modules in playground/shims/ (an in-memory file system, the tab's memory budget,
// "no native backend"), and injects a `process` with the environment the library reads.
import { analyzeMetafile, build } from 'esbuild';
import { buildWasm } from './wasm.mjs';
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = resolve(root, 'playground');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? resolve(args[outAt + 1]) : resolve(src, 'dist');

const shim = (name) => resolve(src, 'shims', name);
const browserShims = {
  name: 'browser-shims',
  setup(b) {
    const map = {
      'node:fs': shim('fs.ts'), fs: shim('fs.ts'),
      'node:os': shim('os.ts'),
      'node:url': shim('url.ts'),
      'node:path': resolve(root, 'node_modules/path-browserify/index.js'),
      'node:crypto': shim('unavailable.ts'),
    };
    b.onResolve({ filter: /^(node:)?(fs|os|url|path|module|crypto|worker_threads|child_process|http|https|net|zlib|stream|util|events|readline|process|v8|vm|perf_hooks|assert|buffer|tty)$/ }, (a) => {
      const key = a.path.startsWith('node:') ? a.path : `node:${a.path}`;
      return { path: map[a.path] ?? map[key] ?? shim('builtin.cjs') };
    });
    // No native addon in a browser: the WASM backend is the fastest available.
    b.onResolve({ filter: /backend-native(\.ts)?$/ }, () => ({ path: shim('native.ts') }));
  },
};

// --no-build (with --serve): serve playground/dist as it is (the benchmarks rebuild only when asked).
if (!(args.includes('--no-build') && existsSync(resolve(out, 'index.html')))) await buildPage();

async function buildPage() {
  // (--out: only a folder that is empty or holds an earlier build is emptied.)
  if (existsSync(out) && readdirSync(out).length && !['weight.json', 'worker.js', 'examples'].some((f) => existsSync(resolve(out, f)))) throw new Error(`${out}: not empty and not a playground build; give an empty folder to --out`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  if (!existsSync(resolve(root, 'dist/kernels.wasm'))) await buildWasm();

  const common = {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: !args.includes('--no-minify'), // --no-minify: readable bundles, to profile
    keepNames: true,
    sourcemap: true,
    logLevel: 'warning',
    plugins: [browserShims],
    inject: [shim('process.ts')],
    define: { global: 'globalThis' },
    loader: { '.woff2': 'file', '.woff': 'file', '.ttf': 'file' },
  };
  // The examples: every .ntk of examples/ and the data files they load, with an index for the menu.
  mkdirSync(resolve(out, 'examples'));
  const examples = [];
  for (const f of readdirSync(resolve(root, 'examples')).sort()) {
    if (!/\.(ntk|npy|csv|json)$/.test(f)) continue;
    cpSync(resolve(root, 'examples', f), resolve(out, 'examples', f));
    if (f.endsWith('.ntk')) {
      const text = readFileSync(resolve(root, 'examples', f), 'utf8');
      const loads = [...text.matchAll(/load\("([^"]+)"\)/g)].map((m) => m[1]);
      const title = (text.split('\n')[0] ?? '').replace(/^#\s*/, '');
      examples.push({ file: f, title, data: [...new Set(loads)], source: text });
    }
  }
  writeFileSync(resolve(out, 'examples/index.json'), JSON.stringify(examples, null, 1));
  // The worker opens the default example by itself (boot, in worker.ts): it has the examples too.
  const withExamples = { ...common.define, __NTK_EXAMPLES__: JSON.stringify(examples) };
  // mathjs (about 0.8 MB minified, for derive's closed forms only) is a module of its own,
  // chunks/mathjs.js, which the worker imports when a closed form is first asked for: worker.js,
  // which every visit downloads, parses and evaluates before the first study can start, stays
  // one file without it (esbuild's code splitting would also have moved the examples' texts into
  // a shared chunk that worker.js imports before it can run).
  const lazy = { mathjs: 'chunks/mathjs.js' };
  await build({ ...common, entryPoints: { [lazy.mathjs.replace(/\.js$/, '')]: resolve(src, 'shims/mathjs.ts') }, outdir: out });
  const lazyModules = {
    name: 'lazy-modules',
    setup(b) {
      b.onResolve({ filter: /^mathjs$/ }, (a) => (a.kind === 'dynamic-import' ? { path: `./${lazy.mathjs}`, external: true } : undefined));
    },
  };
  const worker = await build({ ...common, plugins: [lazyModules, ...common.plugins], define: withExamples, entryPoints: { worker: resolve(src, 'src/worker.ts') }, outdir: out, metafile: true });
  if (Object.keys(worker.metafile.inputs).some((f) => f.includes('node_modules/mathjs/'))) throw new Error('playground: mathjs is in worker.js (imported statically somewhere?)');
  // The page: vega, vega-lite and KaTeX in chunks of their own, imported when first needed. The
  // examples' texts are in it (a few kB), so that opening one waits only for its data files.
  // KaTeX's stylesheet and fonts: loaded with KaTeX, when a formula is first drawn.
  await build({ ...common, entryPoints: { katex: resolve(root, 'node_modules/katex/dist/katex.min.css') }, outdir: out, assetNames: 'fonts/[name]' });
  // keepNames (the library's, for the worker) is off for the page: it wraps every function
  // expression in a __name() call at run time, which CodeMirror's update creates by the dozen per
  // keystroke (~0.1 ms of the page's thread a key in a CPU profile); nothing on the page reads a
  // function's name.
  const page = await build({ ...common, keepNames: false, define: withExamples, entryPoints: { app: resolve(src, 'src/main.ts') }, outdir: out, splitting: true, chunkNames: 'chunks/[name]-[hash]', assetNames: 'fonts/[name]', metafile: true });
  if (args.includes('--analyze')) for (const r of [worker, page]) console.log(await analyzeMetafile(r.metafile));

  cpSync(resolve(root, 'dist/kernels.wasm'), resolve(out, 'kernels.wasm'));
  // index.html fetches the default example's data for the worker it starts (see its first script).
  const defaultName = /DEFAULT_EXAMPLE = '([^']+)'/.exec(readFileSync(resolve(src, 'src/panels.ts'), 'utf8'))?.[1];
  const dflt = examples.find((e) => e.file === defaultName);
  const html = readFileSync(resolve(src, 'index.html'), 'utf8');
  if (!dflt || !html.includes('/*DEFAULT-DATA*/[]')) throw new Error(`playground: no default example (DEFAULT_EXAMPLE of src/panels.ts: ${defaultName}) or no /*DEFAULT-DATA*/ in index.html`);
  writeFileSync(resolve(out, 'index.html'), html.replace('/*DEFAULT-DATA*/[]', JSON.stringify(dflt.data.map((d) => `examples/${d}`))));

  // The page's weight: every file of the page (fonts are fetched only when a formula needs them,
  // the examples' data only when an example is opened), each file's size raw and gzip; and those
  // of the worker's chunks, which only a panel that needs them fetches (derive: mathjs).
  // `npm run bench:playground` measures what a first visit actually downloads.
  let bytes = 0, gz = 0;
  const files = {};
  for (const f of [...readdirSync(out), ...readdirSync(resolve(out, 'chunks')).map((c) => `chunks/${c}`)]) {
    const p = resolve(out, f);
    if (statSync(p).isDirectory() || f.endsWith('.map') || f === 'weight.json') continue;
    const data = readFileSync(p);
    files[f] = [data.length, gzipSync(data, { level: 9 }).length];
    bytes += files[f][0];
    gz += files[f][1];
  }
  const onDemand = Object.values(lazy);
  const demandGz = onDemand.reduce((s, f) => s + (files[f]?.[1] ?? 0), 0);
  writeFileSync(resolve(out, 'weight.json'), JSON.stringify({ bytes, gzip: gz, files, onDemand }));
  console.log(`playground: ${out} (${(bytes / 1024).toFixed(0)} kB, ${(gz / 1024).toFixed(0)} kB gzip, wasm included; of which ${(demandGz / 1024).toFixed(0)} kB gzip in the worker's chunks fetched on demand)`);
}

if (args.includes('--serve')) {
  const i = args.indexOf('--port');
  const port = i >= 0 ? Number(args[i + 1]) : 8137;
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.map': 'application/json' };
  createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(out, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(out) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  }).listen(port, '127.0.0.1', () => console.log(`playground: serving http://localhost:${port}/ (Ctrl-C stops)`));
}
