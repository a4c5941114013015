// The package's `install` step, run by npm where ntk-lab is installed (and by `npm ci` in a
// clone). It compiles nothing that needs the development dependencies: the command, the library
// and the WebAssembly kernels ship prebuilt in dist/. It does two optional things, each reported
// in one line (npm shows a dependency's install output only with --foreground-scripts):
//  1. builds the native OpenBLAS/LAPACK addon when the machine can (scripts/build-native.mjs;
//     otherwise one line says why, and ntk-lab runs on its wasm and JavaScript kernels);
//  2. makes `ntk`'s start-up snapshot for this node (scripts/startup.mjs), when dist/ holds the
//     command (in a fresh clone it does not yet: the build that follows, `prepare`, makes it).
// It never fails the install. NTK_NATIVE=0 skips 1, NTK_SNAPSHOT=off skips 2.
//
// npm may skip this script: `--ignore-scripts`, or an npm whose allowScripts policy does not
// cover ntk-lab. Then there is no addon (the pure path runs; `npm rebuild ntk-lab` builds it
// later), and the first `ntk` command makes the snapshot itself, saying so (bin/ntk.js).
//
// `npx ntk` in a clone installs the clone into npx's cache as a link, which runs this script and
// `prepare` again on the clone itself: with the work already done there, both return at once
// (npm_command is 'exec'), instead of silently rebuilding for 10–30 s before the first command.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { makeSnapshot, root, snapshotFiles } from './startup.mjs';

const bundle = resolve(root, 'dist/ntk.cjs');
const addon = resolve(root, 'build/Release/ntk_native.node');
const underNpx = process.env.npm_command === 'exec';

if (!(underNpx && existsSync(addon))) spawnSync(process.execPath, [resolve(root, 'scripts/build-native.mjs')], { stdio: 'inherit' });

if (process.env.NTK_SNAPSHOT !== 'off' && existsSync(bundle) && !(underNpx && existsSync(snapshotFiles.env))) {
  const t0 = Date.now();
  const r = makeSnapshot();
  console.log(r.ok
    ? `ntk-lab: start-up snapshot made for node ${process.version} (${((Date.now() - t0) / 1000).toFixed(1)} s)`
    : `ntk-lab: no start-up snapshot (${r.why}); ntk will start from its bundle`);
}

// The record that this step ran (bin/ntk.js: a first command without it explains the missing addon).
if (existsSync(bundle)) writeFileSync(resolve(root, 'dist/ntk.install'), `node ${process.version}\n`);
