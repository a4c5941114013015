#!/bin/sh
':' //; s=$0; [ -L "$s" ] && s=$(readlink -f -- "$s"); d=${s%/*}/../dist
':' //; if [ "$NTK_SNAPSHOT" != off ] && [ -z "$NODE_OPTIONS" ] && [ -f "$d/ntk.blob" ] && { read -r n && read -r b; } 2>/dev/null <"$d/ntk.blob.env" && [ "$n" -ef "$(command -v node)" ] && [ "$b" -ef "$d/ntk.cjs" ] && [ ! "$n" -nt "$d/ntk.blob" ] && [ ! "$d/ntk.cjs" -nt "$d/ntk.blob" ]; then exec "$n" --snapshot-blob "$d/ntk.blob" -- "$@"; fi
':' //; exec node "$0" "$@"
// The `ntk` command, in two languages. As a POSIX shell script (the lines above: each is a no-op
// string and a comment to JavaScript) it restores the start-up snapshot dist/ntk.blob, made at
// install or by the first command (scripts/startup.mjs, src/cli/snapshot.ts): the process as it stands once the bundle has loaded, parser
// built, so a run skips all of that (`ntk --version` ~110 ms against ~160 from the bundle, here).
// It does so only when dist/ntk.blob.env names the node on PATH (same file, not replaced since
// the blob was built: a blob from another Node would crash it) and this very bundle (not moved,
// not rebuilt since),
// and NODE_OPTIONS is empty (a V8 flag there, --max-old-space-size say, makes Node refuse the
// blob). Otherwise, and with NTK_SNAPSHOT=off, it runs this file with node.
//
// As JavaScript (run by node, by the launcher above or directly, `node bin/ntk.js`, as on systems
// without a POSIX shell) it runs the prebuilt bundle (scripts/build.mjs, run as `prepare` by
// `npm ci` in a clone; shipped in the package), dist/ntk.cjs, as a classic script compiled with V8's code cache dist/ntk.cjs.cache:
// the bytecode of the functions a typical run compiles, recorded at build time, so that start-up
// deserializes them instead of compiling ~0.5 MB of JavaScript (about 50 ms of every run here).
// A cache that does not match (another build, another Node, other V8 flags) is rejected by V8
// and the script compiles as usual. NTK_CODE_CACHE: 'off' ignores the cache, 'write' records it
// at exit (the build does this), 'check' says on stderr whether it was accepted. NTK_SNAPSHOT:
// 'off' skips the snapshot, 'check' says on stderr whether the process started from it.
import { accessSync, constants, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
// The start-up snapshot is made at install (scripts/install.mjs). When npm did not run that
// script (--ignore-scripts, or its allowScripts policy), the first command makes it, saying so:
// about a second, once; later commands start from it. Not in worker threads, not while the build
// records the code cache, not where dist/ is read-only, not when a record of an earlier attempt
// (dist/ntk.blob.env, or dist/ntk.blob.failed) exists, and never with NTK_SNAPSHOT=off.
const dist = dirname(file);
if (process.env.NTK_SNAPSHOT !== 'off' && mode !== 'write' && !process.argv.includes('--ntk-worker') && !existsSync(`${dist}/ntk.blob.env`) && !existsSync(`${dist}/ntk.blob.failed`) && writable(dist)) {
  console.error(`ntk: making the start-up snapshot for node ${process.version}, once (NTK_SNAPSHOT=off skips it)…`);
  const t0 = Date.now();
  const { makeSnapshot } = await import('../scripts/startup.mjs');
  const r = makeSnapshot();
  console.error(r.ok ? `ntk: done in ${((Date.now() - t0) / 1000).toFixed(1)} s; the next commands start from it` : `ntk: no start-up snapshot (${r.why}); ntk starts from its bundle`);
  // scripts/install.mjs leaves dist/ntk.install when it runs
  if (!existsSync(`${dist}/ntk.install`) && !existsSync(resolve(dist, '../build/Release/ntk_native.node')))
    console.error("ntk: npm did not run ntk-lab's install step, so the optional OpenBLAS backend is not built either (`npm install-scripts approve ntk-lab`, then `npm rebuild ntk-lab`, builds it)");
}
const cachedData = mode !== 'off' && mode !== 'write' && existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
// The CommonJS wrapper, on its own line so that the bundle's lines keep their numbers.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${readFileSync(file, 'utf8')}\n})`, {
  filename: file,
  lineOffset: -1,
  cachedData,
});
if (process.env.NTK_SNAPSHOT === 'check') console.error('ntk: not started from the start-up snapshot');
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

/** Whether this process may create files in `dir`. */
function writable(dir) {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
