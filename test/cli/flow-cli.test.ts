/** `ntk flow` and `ntk sweep` from the command line: JSON keys, exit codes, files. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-flow-cli-'));

describe('ntk flow', () => {
  it('--json has the keys of DESIGN.md', async () => {
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '100', '--T', 'T', '--lip-dh', 'b', '--lip-h', '1', '--radius', '1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const key of ['alpha', 'T', 'R0', 'kappa', 'lipDh', 'error', 'bound', 'chizatBound', 'weightChange', 'linWeightChange', 'loss', 'linLoss', 'out', 'linOut'])
      expect(j).toHaveProperty(key);
    expect(j.T).toBe(100);
    expect(j.lipDh).toBe(2);
    expect(j.error).toBeLessThanOrEqual(j.bound);
    expect(j.errorAccuracy).toBeLessThan(1e-6 * j.error);
  });
  it('warns, and goes on, beyond the validity horizon', async () => {
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '1', '--T', '100', '--lip-dh', '2', '--radius', '0.1');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/beyond the horizon/);
  });
  it('--plot writes an SVG of E(t) against the bounds', async () => {
    const out = join(dir, 'e.svg');
    const r = await ntk('flow', 'examples/converse.ntk', '--alpha', '10', '--T', '50', '--lip-dh', '2', '--plot', out);
    expect(r.code).toBe(0);
    const svg = readFileSync(out, 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('Thm 1.2');
  });
  it('gradient descent with --lr and --steps', async () => {
    const r = await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', '--lr', '0.5', '--steps', '20', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.T).toBe(10);
    expect(j.stability).toBeLessThan(2);
    expect(j.loss).toBeLessThan(j.R0);
  });
  it.each([
    [['--alpha', '0', '--T', '1']],
    [['--alpha', '1', '--T', '-3']],
    [['--alpha', '1']],
    [['--alpha', '1', '--T', '1', '--rtol', '0']],
    [['--alpha', '1', '--T', '1', '--method', 'euler']],
    [['--alpha', '1', '--lr', '0.1']],
    [['--alpha', '1', '--T', '1', '--plot', 'e.pdf']],
  ])('usage error %j: exit 2', async (args) => {
    const r = await ntk('flow', 'examples/converse.ntk', ...args);
    expect(r.code).toBe(2);
  });
  it('a model without the square loss: exit 1 with the reason', async () => {
    const r = await ntk('flow', 'examples/deep.ntk', '--alpha', '1', '--T', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/square loss/);
  });
});

describe('ntk sweep', () => {
  it('in process: the table and the fits; --out is written and resumed', async () => {
    const out = join(dir, 's.csv');
    const args = ['sweep', 'examples/converse.ntk', '--alpha', '100,1000', '--T', 'T', '--set', 'T=10,100', '--lip-dh', 'b', '--workers', '1', '--out', out];
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/log E against log κ: slope \d\.\d{3} ± \d\.\d{3} over 4 points/);
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean).length).toBe(2 + 4);
    const again = await ntk(...args, '--json');
    expect(JSON.parse(again.stdout).resumed).toBe(4);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp')).length).toBe(0);
  });
  it.skipIf(!existsSync('dist/ntk.js'))('on worker threads through the built binary, with a plot', () => {
    const out = join(dir, 'w.json');
    const plot = join(dir, 'w.png');
    const r = spawnSync(process.execPath, ['bin/ntk.js', 'sweep', 'examples/meanfield.ntk', '--alpha', '2,4', '--T', '1,10', '--workers', '2', '--out', out, '--plot', plot, '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows.length).toBe(4);
    expect(JSON.parse(readFileSync(out, 'utf8')).rows.length).toBe(4);
    expect(readFileSync(plot).subarray(1, 4).toString()).toBe('PNG');
  });
});
