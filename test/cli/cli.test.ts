/** The command line, in process: outputs, JSON keys, exit codes, located errors. */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';
import { relErr } from '../helpers.ts';


const dir = mkdtempSync(join(tmpdir(), 'ntk-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('commands with --json', () => {
  it('check', async () => {
    const r = await ntk('check', 'examples/meanfield.ntk', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, params: 256, outputs: 16, diagnostics: [] });
  });
  it('eval with --alpha and --set', async () => {
    const r = await ntk('eval', 'examples/converse.ntk', '--json', '--alpha', '2', '--set', 'R0=2');
    const j = JSON.parse(r.stdout);
    expect(r.code).toBe(0);
    expect(j.h).toBe(0);
    expect(j.R0).toBeCloseTo(2, 15); // ½(0 − √(2·2))²
    expect(j.params).toBe(1);
    expect(j.outputs).toBe(1);
  });
  it('jacobian is k × p', async () => {
    const r = await ntk('jacobian', 'examples/meanfield.ntk', '--json');
    const J = JSON.parse(r.stdout).J;
    expect(J.length).toBe(16);
    expect(J[0].length).toBe(256);
  });
  it('kernel --order 2 is symmetric k × k', async () => {
    const r = await ntk('kernel', 'examples/deep.ntk', '--json', '--order', '2');
    const j = JSON.parse(r.stdout);
    expect(j.order).toBe(2);
    expect(j.shape).toEqual([8, 8]);
    expect(j.K[2][5]).toBe(j.K[5][2]);
    expect(j.K[3][3]).toBeGreaterThan(0);
  });
  it('kernel --structure: every way to the NTK gives the same kernel, and says which it took', async () => {
    const K: Record<string, number[][]> = {};
    for (const s of ['auto', 'rows', 'dense', 'products']) {
      const j = JSON.parse((await ntk('kernel', 'examples/deep.ntk', '--json', '--structure', s)).stdout);
      expect(j.structure).toBe(s === 'auto' ? 'dense' : s);
      K[s] = j.K;
    }
    for (const s of ['rows', 'products']) expect(relErr(K[s]!.flat(), K.dense!.flat())).toBeLessThan(1e-13);
    expect((await ntk('kernel', 'examples/deep.ntk', '--structure', 'products')).stdout).toMatch(/computed by\s+NTK-vector products/);
  });
  it('print --derivative shows the model and its derivatives', async () => {
    const r = await ntk('print', 'examples/converse.ntk', '--derivative');
    expect(r.code).toBe(0);
    // and, for this scalar model, the closed forms simplified by mathjs
    expect(r.stdout).toBe('h = 0.1*w + w^2\ndh = 0.1*dw + 2*w*dw\nDhᵀu[w] = 2*w*u + 0.1*u\n# simplified (mathjs)\nh = w / 10 + w ^ 2\ndh/dw = 2 * w + 1 / 10\n');
  });
});

describe('readable summaries', () => {
  it('eval prints h and R0', async () => {
    const r = await ntk('eval', 'examples/meanfield.ntk');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/parameters\s+256/);
    expect(r.stdout).toMatch(/R0\s+\d/);
  });
});

describe('errors and exit codes', () => {
  it('a syntax error: exit 1, located, with the source line and a caret', async () => {
    const f = file('bad.ntk', 'param w = 0\nmodel h = w +\n');
    const r = await ntk('check', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: error: `));
    expect(r.stdout).toBe('');
  });
  it('a shape error: exit 1 with a caret under the expression', async () => {
    const f = file('shape.ntk', 'param a : [3] = 0\nparam b : [2] = 0\nmodel h = a + b\n');
    const r = await ntk('eval', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f}:3:11: error: shape mismatch in '+': left is [3], right is [2]\n  model h = a + b\n            ^^^^^\n  hint: elementwise operations broadcast like numpy: trailing sizes must be equal or 1 (3:11 and 3:15)\n`);
  });
  it('a missing model file: exit 1', async () => {
    const r = await ntk('check', join(dir, 'nope.ntk'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read .*nope\.ntk.*no such file/);
  });
  it.each([
    [['frobnicate', 'examples/converse.ntk']],
    [['eval', 'examples/converse.ntk', '--bogus']],
    [['kernel', 'examples/converse.ntk', '--order', '0']],
    [['kernel', 'examples/converse.ntk', '--order', 'two']],
    [['kernel', 'examples/converse.ntk', '--structure', 'sparse']],
    [['kernel', 'examples/meanfield.ntk', '--structure', 'products', '--order', '3']],
    [['kernel', 'examples/converse.ntk', '--structure', 'rows']],
    [['eval', 'examples/converse.ntk', '--set', 'T']],
    [['eval', 'examples/converse.ntk', '--set', 'T=abc']],
    [['eval', 'examples/converse.ntk', '--set', 'nope=3']],
    [['eval', 'examples/converse.ntk', '--alpha', '-1']],
    [['eval', 'examples/converse.ntk', '--seed', '1.5']],
    [['jacobian', 'examples/converse.ntk', '--mode', 'sideways']],
  ])('usage error %j: exit 2', async (args) => {
    const r = await ntk(...args);
    expect(r.code).toBe(2);
    expect(r.stderr.length).toBeGreaterThan(0);
    expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  });
  it('with --json an error still gives a JSON object on stdout', async () => {
    const f = file('unk.ntk', 'param w = 0\nmodel h = v\n');
    const r = await ntk('eval', f, '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.diagnostics[0]).toMatchObject({ line: 2, col: 11, message: "unknown name 'v'" });
  });
  it('a NaN in h(w0) is reported, not printed', async () => {
    const f = file('nan.ntk', 'param w = -1\nmodel h = sqrt(w)\n');
    const r = await ntk('eval', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/h\(w0\) is NaN at entry 0/);
  });
});

describe('the installed binary', () => {
  it.skipIf(!existsSync('dist/ntk.cjs'))('bin/ntk.js runs an example', () => {
    const r = spawnSync(process.execPath, ['bin/ntk.js', 'check', 'examples/converse.ntk', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
  });

  it.skipIf(!existsSync('dist/ntk.cjs.cache'))('starts from the code cache the build recorded, and gives the same output without it', () => {
    const args = ['bin/ntk.js', 'kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=4', '--json'];
    const withCache = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, NTK_CODE_CACHE: 'check' } });
    expect(withCache.status).toBe(0);
    expect(withCache.stderr).toMatch(/code cache accepted/);
    const without = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, NTK_CODE_CACHE: 'off' } });
    expect(without.status).toBe(0);
    expect(without.stdout).toBe(withCache.stdout);
  });

  it.skipIf(!existsSync('dist/ntk.cjs.cache'))('worker threads compile the bundle with its code cache too (the flow’s accuracy check)', () => {
    const r = spawnSync(process.execPath, ['bin/ntk.js', 'flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, NTK_CODE_CACHE: 'check' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/ntk worker: code cache accepted/);
    expect(JSON.parse(r.stdout).errorAccuracy).toBeGreaterThan(0);
  });

  // The POSIX launcher in bin/ntk.js restores dist/ntk.blob (src/cli/snapshot.ts) when it fits.
  const snapshot = existsSync('dist/ntk.blob') && process.platform !== 'win32';
  const launch = (args: string[], env: Record<string, string>, bin = 'bin/ntk.js') =>
    spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...env } });

  it.skipIf(!snapshot)('the launcher starts from the start-up snapshot the build saved, with the same output as from the bundle', () => {
    for (const args of [['kernel', 'examples/mlp-tanh.ntk', '--order', '3', '--set', 'm=4', '--json'], ['eval', 'examples/meanfield.ntk'], ['--version']]) {
      const from = launch(args, { NTK_SNAPSHOT: 'check' });
      expect(from.status).toBe(0);
      expect(from.stderr).toMatch(/started from the start-up snapshot/);
      expect(from.stderr).not.toMatch(/not started/);
      const without = launch(args, { NTK_SNAPSHOT: 'off' });
      expect(without.status).toBe(0);
      expect(without.stderr).not.toMatch(/snapshot/);
      expect(from.stdout).toBe(without.stdout);
    }
  });

  it.skipIf(!snapshot)('from the snapshot: worker threads (the flow’s accuracy check), plots (import of vega), errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-snap-'));
    const plot = join(dir, 'e.svg');
    const r = launch(['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--json', '--plot', plot], { NTK_SNAPSHOT: 'check' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/started from the start-up snapshot/);
    expect(r.stderr).not.toMatch(/Warning|experimental/i); // Node's notice about the loader is not the user's concern
    expect(JSON.parse(r.stdout).errorAccuracy).toBeGreaterThan(0); // the check ran on its worker
    expect(readFileSync(plot, 'utf8')).toMatch(/^<svg/);
    const bad = launch(['eval', join(dir, 'missing.ntk')], { NTK_SNAPSHOT: 'check' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/missing\.ntk/);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.skipIf(!snapshot)('falls back to the bundle when the snapshot does not fit: a moved copy, another node, V8 flags in NODE_OPTIONS', () => {
    // Node refuses a blob under other V8 flags (exit 14): the launcher does not try it then
    const flags = launch(['--version'], { NTK_SNAPSHOT: 'check', NODE_OPTIONS: '--max-old-space-size=3000' });
    expect(flags.status).toBe(0);
    expect(flags.stderr).toMatch(/not started from the start-up snapshot/);
    const dir = mkdtempSync(join(tmpdir(), 'ntk-moved-'));
    cpSync('bin', join(dir, 'bin'), { recursive: true });
    cpSync('dist', join(dir, 'dist'), { recursive: true });
    cpSync('package.json', join(dir, 'package.json'));
    const moved = launch(['--version'], { NTK_SNAPSHOT: 'check' }, join(dir, 'bin/ntk.js'));
    expect(moved.status).toBe(0);
    expect(moved.stderr).toMatch(/not started from the start-up snapshot/);
    expect(moved.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
    // the blob names this copy's bundle but another node binary
    writeFileSync(join(dir, 'dist/ntk.blob.env'), `/bin/sh\n${join(dir, 'dist/ntk.cjs')}\n`);
    const other = launch(['--version'], { NTK_SNAPSHOT: 'check' }, join(dir, 'bin/ntk.js'));
    expect(other.stderr).toMatch(/not started from the start-up snapshot/);
    // … and with this node and this bundle, the copy does use it (the blob newer than both)
    writeFileSync(join(dir, 'dist/ntk.blob.env'), `${process.execPath}\n${join(dir, 'dist/ntk.cjs')}\n`);
    const later = Date.now() / 1000 + 60;
    utimesSync(join(dir, 'dist/ntk.blob'), later, later);
    const fits = launch(['--version'], { NTK_SNAPSHOT: 'check' }, join(dir, 'bin/ntk.js'));
    expect(fits.stderr).toMatch(/^ntk: started from the start-up snapshot/);
    // a bundle rebuilt after the blob: the blob holds the old one
    utimesSync(join(dir, 'dist/ntk.cjs'), later + 60, later + 60);
    const rebuilt = launch(['--version'], { NTK_SNAPSHOT: 'check' }, join(dir, 'bin/ntk.js'));
    expect(rebuilt.stderr).toMatch(/not started from the start-up snapshot/);
  });

  it.skipIf(!existsSync('dist/ntk.cjs') || process.platform === 'win32')('stops quietly when the reader of its output goes away (ntk … | head)', () => {
    const cmd = `set -o pipefail; "${process.execPath}" bin/ntk.js kernel examples/mlp-tanh.ntk --order 3 --json | head -c 20`;
    const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
    expect(r.stdout).toBe('{"order":3,"shape":[');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('the start-up snapshot', () => {
  it('its warm-up program parses cleanly (the build fails over to the bundle otherwise)', async () => {
    const { WARM_UP } = await import('../../src/cli/snapshot.ts');
    const { parseProgram } = await import('../../src/parser/index.ts');
    expect(parseProgram(WARM_UP, 'warm-up.ntk').diagnostics).toEqual([]);
  });
});
