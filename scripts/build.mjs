// Bundles the command line (and the benchmark) into single ES modules with esbuild: one file
// to load instead of hundreds of modules, which keeps `ntk`'s start-up short.
import { build } from 'esbuild';
import { buildWasm } from './wasm.mjs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// CommonJS dependencies (commander) call require() on Node built-ins; give the ESM bundle one.
const banner = "import { createRequire as __ntkCreateRequire } from 'node:module';\nconst require = __ntkCreateRequire(import.meta.url);";

await build({
  entryPoints: {
    ntk: resolve(root, 'src/cli/entry.ts'),
    bench: resolve(root, 'bench/bench.ts'),
    'make-data': resolve(root, 'scripts/make-data.ts'),
  },
  outdir: resolve(root, 'dist'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // Half the bytes to parse at every start (1.06 MB → 0.5 MB; about 15–30 ms of a 0.3–0.8 s
  // process here); names are kept, so error classes and profiles still read as in the source.
  minify: true,
  keepNames: true,
  banner: { js: banner },
  external: ['@resvg/resvg-js', 'vega', 'vega-lite'],
  logLevel: 'warning',
});

// The WASM SIMD kernels, from their WAT source (throws, failing the build, if it does not compile).
await buildWasm();
