#!/usr/bin/env node
// The `ntk` command. It runs the bundle built by `npm ci` (scripts/build.mjs, run as `prepare`),
// dist/ntk.cjs, as a classic script compiled with V8's code cache dist/ntk.cjs.cache: the bytecode
// of the functions a typical run compiles, recorded at build time, so that start-up deserializes
// them instead of compiling ~0.5 MB of JavaScript (about 50 ms of every run here). A cache that
// does not match (another build, another Node, other V8 flags) is rejected by V8 and the script
// compiles as usual. NTK_CODE_CACHE: 'off' ignores the cache, 'write' records it at exit (the
// build does this), 'check' says on stderr whether it was accepted.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const file = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/ntk.cjs');
const cacheFile = `${file}.cache`;
const mode = process.env.NTK_CODE_CACHE ?? '';
if (!existsSync(file)) {
  console.error(`ntk: the command is not built (no ${file}): run \`npm ci\` or \`npm run build\` in ${resolve(dirname(file), '..')}`);
  process.exit(3);
}
const cachedData = mode !== 'off' && mode !== 'write' && existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
// The CommonJS wrapper, on its own line so that the bundle's lines keep their numbers.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${readFileSync(file, 'utf8')}\n})`, {
  filename: file,
  lineOffset: -1,
  cachedData,
});
if (mode === 'check') console.error(`ntk: code cache ${cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted'}`);
if (mode === 'write')
  process.on('exit', () => {
    writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
    renameSync(`${cacheFile}.tmp`, cacheFile);
  });
// import() inside a vm script has no loader (src/cli/plot.ts: importPackage): the plotting
// packages are imported from here, resolved from the package's own node_modules.
globalThis[Symbol.for('ntk.import')] = (spec) => import(spec);
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
