/**
 * `npx ntk` in a clone links the clone into npx's cache, and npm runs the package's `install`
 * and `prepare` on the clone again (npm_command=exec). With the work already done they must
 * return at once and leave dist/ alone, instead of rebuilding for 10–30 s before the command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const built = existsSync('dist/ntk.cjs');
const mtimes = (files: string[]) => files.map((f) => (existsSync(f) ? statSync(f).mtimeMs : null));

describe.skipIf(!built)('under npx in a clone', () => {
  it('prepare returns without building', () => {
    const files = ['dist/ntk.cjs', 'dist/index.js', 'dist/kernels.wasm', 'dist/ntk.blob'];
    const before = mtimes(files);
    const r = spawnSync(process.execPath, ['scripts/prepare.mjs'], { encoding: 'utf8', env: { ...process.env, npm_command: 'exec' } });
    expect(r.status).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(mtimes(files)).toEqual(before);
  });

  it.skipIf(!existsSync('dist/ntk.blob.env') || !existsSync('build/Release/ntk_native.node'))('install returns without rebuilding the addon or the snapshot', () => {
    const files = ['build/Release/ntk_native.node', 'dist/ntk.blob', 'dist/ntk.blob.env'];
    const before = mtimes(files);
    const r = spawnSync(process.execPath, ['scripts/install.mjs'], { encoding: 'utf8', env: { ...process.env, npm_command: 'exec' } });
    expect(r.status).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(mtimes(files)).toEqual(before);
  });
});
