/**
 * The install step `scripts/build-native.mjs` must never fail an install: whatever is missing,
 * it prints one line and exits 0, and leaves an existing build alone when it skips.
 * (The build itself is exercised by `npm ci`; the addon by backend-native.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const script = 'scripts/build-native.mjs';
const addon = 'build/Release/ntk_native.node';

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
}

describe('scripts/build-native.mjs', () => {
  it('without a C++ compiler (or the libraries): one line, exit 0, the existing build untouched', () => {
    const before = existsSync(addon) ? statSync(addon).mtimeMs : null;
    const r = run({ CXX: '/nonexistent/c++' });
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ntk-lab: native OpenBLAS backend not built \((no C\+\+ compiler|.*not found).*\); using the JavaScript kernels$/);
    expect(r.stderr).toBe('');
    expect(existsSync(addon) ? statSync(addon).mtimeMs : null).toBe(before);
  });

  it('NTK_NATIVE=0 skips silently', () => {
    const r = run({ NTK_NATIVE: '0' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
  });
});
