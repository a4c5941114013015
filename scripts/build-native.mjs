// The `install` step: builds the optional OpenBLAS/LAPACK addon (native/ntk_native.cc →
// build/Release/ntk_native.node) when this machine can, and otherwise leaves ntk-lab on its
// JavaScript kernels. It never fails the install: a missing library, compiler or Node header,
// or a failed build prints one line and exits 0.
//
// It builds only against what is already on the machine (the BLAS/LAPACK headers, a C++
// compiler, Node's own headers): nothing is downloaded, so it is quick (a few seconds) or
// skipped at once. NTK_NATIVE=0 skips it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const addonPath = join(root, 'build', 'Release', 'ntk_native.node');

function skip(reason) {
  console.log(`ntk-lab: native OpenBLAS backend not built (${reason}); using the JavaScript kernels`);
  process.exit(0);
}

if (process.env.NTK_NATIVE === '0') process.exit(0);
if (process.platform === 'win32') skip('not supported on Windows');

/** A header in the usual include directories, multiarch ones (/usr/include/x86_64-linux-gnu) included. */
function findHeader(name) {
  const dirs = ['/usr/include', '/usr/local/include', '/opt/homebrew/include', '/opt/homebrew/opt/openblas/include'];
  for (const base of ['/usr/include']) {
    try {
      for (const d of readdirSync(base)) if (d.endsWith('-linux-gnu')) dirs.push(join(base, d));
    } catch { /* no such directory */ }
  }
  return dirs.some((d) => existsSync(join(d, name)) || existsSync(join(d, 'openblas', name)));
}

const missing = ['cblas.h', 'lapacke.h'].filter((h) => !findHeader(h));
if (missing.length > 0) skip(`${missing.join(' and ')} not found: apt install libopenblas-dev liblapacke-dev, then npm rebuild`);

const cxx = process.env.CXX || 'c++';
if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C++ compiler (${cxx})`);

/** Node's headers: npm's `nodedir` setting, else the prefix this node runs from (/usr, ~/.nvm/versions/node/vX). */
function nodeDir() {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && existsSync(join(fromNpm, 'include', 'node', 'node_api.h'))) return fromNpm;
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return null;
}
const nodedir = nodeDir();
if (!nodedir) skip("Node's headers (include/node/node_api.h) not found");

/** node-gyp's entry script: npm's lifecycle variable, PATH, or the copy bundled with npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  for (const dir of (process.env.PATH || '').split(delimiter)) {
    if (!dir) continue;
    const bin = join(dir, 'node-gyp');
    if (existsSync(bin)) candidates.push(bin);
    const npmBin = join(dir, 'npm');
    if (existsSync(npmBin)) {
      try {
        // /usr/bin/npm → /usr/lib/node_modules/npm/bin/npm-cli.js
        candidates.push(join(dirname(realpathSync(npmBin)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
      } catch { /* dangling link */ }
      candidates.push(join(dir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    }
  }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    try {
      return realpathSync(c);
    } catch { /* keep looking */ }
  }
  return null;
}
const gyp = findNodeGyp();
if (!gyp) skip('node-gyp not found');

const logDir = mkdtempSync(join(tmpdir(), 'ntk-native-'));
const log = join(logDir, 'build.log');
const run = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
  cwd: root,
  encoding: 'utf8',
  timeout: 120_000,
  env: { ...process.env, npm_config_nodedir: nodedir },
});
if (run.status !== 0 || !existsSync(addonPath)) {
  writeFileSync(log, `${run.stdout ?? ''}\n${run.stderr ?? ''}\n${run.error ?? ''}`);
  rmSync(join(root, 'build'), { recursive: true, force: true });
  skip(`the build failed, see ${log}`);
}

// Load it in a child process and check one product: a library that fails to load at run time
// (or a broken BLAS) must not be left where the runtime would pick it up.
const check = spawnSync(process.execPath, ['-e', `
  const m = require(${JSON.stringify(addonPath)});
  const C = new Float64Array(4);
  m.dgemm(false, false, 2, 2, 2, 1, Float64Array.of(1, 2, 3, 4), 0, 2, Float64Array.of(5, 6, 7, 8), 0, 2, 0, C, 0, 2);
  if (C.join() !== '19,22,43,50') throw new Error('dgemm gave ' + C.join());
`], { encoding: 'utf8', timeout: 30_000 });
if (check.status !== 0) {
  writeFileSync(log, `${check.stdout ?? ''}\n${check.stderr ?? ''}`);
  rmSync(join(root, 'build'), { recursive: true, force: true });
  skip(`the addon was built but does not load, see ${log}`);
}
rmSync(logDir, { recursive: true, force: true });
console.log('ntk-lab: native OpenBLAS backend built (build/Release/ntk_native.node)');
