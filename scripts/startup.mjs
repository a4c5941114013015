// What makes `ntk` start fast, and where each piece is made:
//
// - V8's code cache of the command's bundle, dist/ntk.cjs.cache (`recordCodeCache`): made by the
//   build (scripts/build.mjs) and shipped in the package. It holds bytecode for one V8 version;
//   another Node rejects it and compiles the bundle as usual, so it can only make starts faster.
// - The start-up snapshot, dist/ntk.blob (`makeSnapshot`, src/cli/snapshot.ts): the process as it
//   stands once the bundle has loaded. It is tied to the node binary that made it, so it is made
//   on the user's machine: by the build in a clone, by the package's install script
//   (scripts/install.mjs), or, when npm did not run that script, by the first `ntk` command,
//   which says so on stderr (bin/ntk.js). Each attempt leaves a record: dist/ntk.blob.env on
//   success, dist/ntk.blob.failed (the reason) otherwise, so a failure is not retried at every
//   command.
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(root, 'dist');
export const snapshotFiles = {
  blob: resolve(dist, 'ntk.blob'),
  env: resolve(dist, 'ntk.blob.env'),
  failed: resolve(dist, 'ntk.blob.failed'),
};

/** Removes the snapshot and its records (before the bundle changes: a snapshot holds the old one). */
export function removeSnapshot() {
  for (const f of Object.values(snapshotFiles)) rmSync(f, { force: true });
}

/**
 * The code cache: bin/ntk.js records it at exit when NTK_CODE_CACHE=write, holding the bytecode
 * of every function compiled so far; each run below starts from the previous run's cache, so it
 * accumulates what parsing, kernels, flows and the printers compile.
 */
export function recordCodeCache() {
  rmSync(resolve(dist, 'ntk.cjs.cache'), { force: true });
  const warmUps = [
    ['kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=8', '--json'],
    ['kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=8'],
    ['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--json'],
    ['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10'],
  ];
  for (const args of warmUps) {
    const run = spawnSync(process.execPath, [resolve(root, 'bin/ntk.js'), ...args], {
      cwd: root,
      env: { ...process.env, NTK_CODE_CACHE: 'write', NTK_SNAPSHOT: 'off' },
      encoding: 'utf8',
    });
    // Not fatal: without the cache `ntk` only starts more slowly.
    if (run.status !== 0) console.warn(`build: the code-cache warm-up 'ntk ${args.join(' ')}' failed (${run.stderr.trim().split('\n')[0]}); ntk will start without it`);
  }
}

/**
 * Makes the start-up snapshot for this node (`process.execPath`), after the code cache, which it
 * contains. The blob is checked by restoring it once (a blob Node cannot read crashes it, so a
 * bad one must never be left in place). Returns { ok: true } or { ok: false, why }; never throws.
 * bin/ntk.js's POSIX launcher restores the blob when dist/ntk.blob.env names the node on PATH
 * (the one that built it, not upgraded since) and this bundle.
 */
export function makeSnapshot() {
  const { blob, env, failed } = snapshotFiles;
  try {
    removeSnapshot();
    const tmp = `${blob}.${process.pid}.tmp`;
    const made = spawnSync(process.execPath, ['--no-warnings', '--snapshot-blob', tmp, '--build-snapshot', resolve(root, 'scripts/snapshot.cjs')], {
      cwd: root,
      encoding: 'utf8',
    });
    const version = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).version;
    const restored = made.status === 0 ? spawnSync(process.execPath, ['--snapshot-blob', tmp, '--', '--version'], { encoding: 'utf8' }) : null;
    if (!restored || restored.status !== 0 || restored.stdout.trim() !== version) {
      rmSync(tmp, { force: true });
      const why = (made.status !== 0 ? made.stderr || String(made.error ?? '') : restored?.stderr || `printed '${restored?.stdout.trim()}'`).trim().split('\n')[0];
      writeFileSync(failed, `${process.execPath}\n${why}\n`);
      return { ok: false, why };
    }
    writeFileSync(`${env}.${process.pid}.tmp`, `${process.execPath}\n${resolve(dist, 'ntk.cjs')}\n`);
    renameSync(tmp, blob);
    renameSync(`${env}.${process.pid}.tmp`, env);
    return { ok: true };
  } catch (e) {
    // an unwritable dist/ (a global install run by another user) and the like
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
}
