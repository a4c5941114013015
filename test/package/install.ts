/**
 * Packs this repository as users get it (`npm pack` of the built dist/) and installs the tarball
 * into a fresh folder, where scripts import 'ntk-lab' from node_modules, not from the sources.
 *
 * The install must not need the network: the consumer gets a lockfile made from this
 * repository's own (its non-dev entries: ntk-lab's dependencies at the versions `npm ci` put in
 * npm's cache) plus ntk-lab itself as the local tarball, and `npm ci --offline` installs exactly
 * that. (A plain `npm install ./ntk-lab-*.tgz` resolves every dependency's metadata from the
 * registry, which `npm ci` does not cache: about 100 requests.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface PackInfo {
  tarball: string;
  /** Compressed and unpacked sizes in bytes, and the files, as npm pack reports them. */
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

/** `npm pack` of the repository as it stands (dist/ as built; the build is `prepare`'s, skipped here). */
export function pack(dest: string): PackInfo {
  mkdirSync(dest, { recursive: true });
  const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: root, encoding: 'utf8' });
  const [r] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] }[];
  return { tarball: join(dest, r!.filename), size: r!.size, unpackedSize: r!.unpackedSize, files: r!.files };
}

/**
 * A new folder with `ntk-lab` installed from `tarball` by `npm ci --offline`; returns the folder
 * and npm's output. `env` goes to npm (and so to ntk-lab's install script).
 */
export function installTarball(tarball: string, env: Record<string, string> = {}): { dir: string; output: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-consumer-'));
  const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const spec = `file:${tarball}`;
  const packages: Record<string, Record<string, unknown>> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { 'ntk-lab': spec } },
    'node_modules/ntk-lab': {
      version: own.version,
      resolved: spec,
      license: own.license,
      dependencies: own.dependencies,
      bin: own.bin,
      engines: own.engines,
      hasInstallScript: true,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: { 'ntk-lab': spec } }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  const r = spawnSync(npm, ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 300_000,
  });
  return { dir, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}`, status: r.status };
}
