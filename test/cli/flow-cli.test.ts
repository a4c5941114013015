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
  it('without --lip-dh/--lip-h: the certified estimates of ntk lip on the Prop. 3.1 ball, and says so', async () => {
    const r = await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.lipSource).toBe('estimated');
    expect(j.radius).toBeCloseTo(Math.sqrt(10 * j.R0) / 4, 12);
    expect(j.lipDh).toBe(j.lipEstimate.lipDh.upper);
    expect(j.lipEstimate.lipDh.lower).toBeLessThanOrEqual(j.lipDh);
    expect(j.kappa).toBeCloseTo((10 / 4) * j.lipDh * Math.sqrt(j.R0), 12);
    expect(j.stayedInBall).toBe(true); // Prop. 3.1
    expect(j.error).toBeLessThanOrEqual(j.bound);
    const text = await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10');
    expect(text.stdout).toMatch(/certified upper bounds on B\(w0, [0-9.]+\) by ntk lip/);
    const none = JSON.parse((await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--no-lip', '--json')).stdout);
    expect(none.lipSource).toBeNull();
    expect(none.kappa).toBeNull();
    const given = JSON.parse((await ntk('flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--lip-dh', '3', '--json')).stdout);
    expect(given.lipSource).toBe('given');
    expect(given.lipDh).toBe(3);
  });
  it('reports predictions on held-out inputs when the model declares them', async () => {
    const j = JSON.parse((await ntk('flow', 'examples/meanfield-test.ntk', '--alpha', '4', '--T', '10', '--no-lip', '--json')).stdout);
    expect(j.testOut).toHaveLength(8);
    expect(j.linTestOut).toHaveLength(8);
    const d = Math.hypot(...j.testOut.map((x: number, i: number) => x - j.linTestOut[i]));
    expect(j.testError).toBeCloseTo(d, 14);
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
  it('a model with another loss: the flow and its linearization, the bounds marked as not applying', async () => {
    const r = await ntk('flow', 'examples/deep.ntk', '--alpha', '4', '--T', '1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.error).toBeGreaterThan(0);
    expect(j.bound).toBeNull();
    expect(j.boundNotes.theorem12).toMatch(/square loss/);
    expect(j.lipSource).toBeNull(); // no estimate where no bound would use it
    for (const method of ['exponential', 'etdrk4']) {
      const bad = await ntk('flow', 'examples/deep.ntk', '--alpha', '4', '--T', '1', '--method', method);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/needs the square loss/);
    }
  });
});

describe('ntk sweep', () => {
  it('in process: the table and the fits; --out is written and resumed', async () => {
    const out = join(dir, 's.csv');
    const args = ['sweep', 'examples/converse.ntk', '--alpha', '100,1000', '--T', 'T', '--set', 'T=10,100', '--lip-dh', 'b', '--workers', '1', '--out', out];
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/log E against log κ: slope \d\.\d{3} ± \d\.\d{3} over 4 points/);
    const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(lines.filter((l) => !l.startsWith('#')).length).toBe(1 + 4); // header and 4 rows under the comments
    const again = await ntk(...args, '--json');
    expect(JSON.parse(again.stdout).resumed).toBe(4);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp')).length).toBe(0);
    // the plot: per curve E(T), the bounds of Theorems 1.2 and 1.3 and the fit, the slope in the legend
    const svg = join(dir, 's.svg');
    expect((await ntk(...args, '--plot', svg)).code).toBe(0);
    const text = readFileSync(svg, 'utf8');
    for (const label of ['α = 100: slope', 'α = 1000: slope', 'Thm 1.2 bound', 'Thm 1.3 (tight example)', '>fit<', '>E(T)<']) expect(text.includes(label), label).toBe(true);
  });
  it("passes on the flows' warnings: on stderr with the points, in JSON per row", async () => {
    const args = ['sweep', 'examples/converse.ntk', '--alpha', '1,2', '--T', '100', '--radius', '0.01', '--lip-dh', 'b', '--workers', '1'];
    const r = await ntk(...args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: T = 100 is beyond the horizon .* \(at α=1 T=100\)/);
    expect(r.stderr).toMatch(/\(at α=2 T=100\)/);
    const j = JSON.parse((await ntk(...args, '--json')).stdout);
    for (const row of j.rows) expect(row.warnings.join(' ')).toMatch(/beyond the horizon/);
  });
  it.skipIf(!existsSync('dist/ntk.cjs'))('on worker threads through the built binary, with a plot', () => {
    const out = join(dir, 'w.json');
    const plot = join(dir, 'w.png');
    // --no-lip: the subject is the workers and the plot, not the per-point Lipschitz estimate (seconds each here)
    const r = spawnSync(process.execPath, ['bin/ntk.js', 'sweep', 'examples/meanfield.ntk', '--alpha', '2,4', '--T', '1,10', '--workers', '2', '--out', out, '--plot', plot, '--json', '--no-lip'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows.length).toBe(4);
    expect(JSON.parse(readFileSync(out, 'utf8')).rows.length).toBe(4);
    expect(readFileSync(plot).subarray(1, 4).toString()).toBe('PNG');
  });
});

describe('the automatic Lipschitz estimate of flow', () => {
  it('is skipped, with the command that gives it, where its certified bounds would be expensive', async () => {
    const r = await ntk('flow', 'examples/meanfield-w2.ntk', '--set', 'm=128', '--alpha', '4', '--T', '10', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.lipSource).toBeNull();
    expect(j.kappa).toBeNull();
    expect(j.warnings.join(' ')).toMatch(/no automatic Lipschitz estimate: .* run 'ntk lip examples\/meanfield-w2.ntk --set m=128 --radius [\d.e+-]+'/);
  });
});

describe('the accuracy check on a worker thread (the built binary)', () => {
  it.skipIf(!existsSync('dist/ntk.cjs'))('gives the errorAccuracy of the inline check, on a stiff flow with the Lipschitz estimate running alongside', async () => {
    const args = ['flow', 'examples/meanfield.ntk', '--alpha', '2', '--T', '3000', '--json'];
    const bin = spawnSync(process.execPath, ['bin/ntk.js', ...args], { encoding: 'utf8' });
    expect(bin.status).toBe(0);
    const viaWorker = JSON.parse(bin.stdout);
    const inline = JSON.parse((await ntk(...args)).stdout); // in process, from the sources: inline
    expect(viaWorker.method).toBe('exponential');
    expect(viaWorker.lipSource).toBe('estimated');
    expect(viaWorker.error).toBeCloseTo(inline.error, 14);
    expect(viaWorker.errorAccuracy).toBeGreaterThan(0);
    expect(Math.abs(viaWorker.errorAccuracy - inline.errorAccuracy) / inline.errorAccuracy).toBeLessThan(1e-4);
  });
  it.skipIf(!existsSync('dist/ntk.cjs'))('does not keep a failing flow waiting', () => {
    const t0 = Date.now();
    const bad = spawnSync(process.execPath, ['bin/ntk.js', 'flow', 'examples/deep.ntk', '--alpha', '4', '--T', '1000', '--method', 'exponential'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/needs the square loss/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
