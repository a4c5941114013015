/** Sweeps: the grid, slope fits, CSV round trips, resuming, and the tight example's claims. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromCsv, grid, pointKey, toCsv, type SweepRow } from '../../src/dynamics/sweep.ts';
import { fitLogLog } from '../../src/math/fit.ts';
import { runSweep, type SweepStudyOptions } from '../../src/studies/sweep.ts';
import { flowStudy } from '../../src/studies/flow.ts';
import { loadModel } from '../../src/ir/load.ts';

describe('grid and fits', () => {
  it('the grid is the cartesian product, models adjacent', () => {
    const g = grid([1, 4], [10, 100], { m: [8, 16] });
    expect(g.length).toBe(8);
    expect(g.slice(0, 4).every((p) => p.set.m === 8)).toBe(true);
    expect(new Set(g.map((p) => pointKey(p))).size).toBe(8);
  });
  it('log-log fits recover exact power laws and report their uncertainty', () => {
    const x = [1, 2, 4, 8, 16];
    const f = fitLogLog(x, x.map((v) => 3 * v ** -1.5))!;
    expect(f.slope).toBeCloseTo(-1.5, 12);
    expect(f.stderr).toBeLessThan(1e-10);
    const noisy = fitLogLog(x, x.map((v, i) => v * (1 + 0.1 * (-1) ** i)))!;
    expect(noisy.stderr).toBeGreaterThan(0.01);
    expect(fitLogLog([1, 2], [0, 1])).toBeNull(); // one usable point
  });
  it('CSV round-trips at full precision and refuses another sweep\'s file', () => {
    const row: SweepRow = { alpha: 3, T: 0.1, set: { m: 8 }, R0: 1 / 3, lipDh: 2, lipH: null, kappa: null, error: Math.PI * 1e-9, errorAccuracy: null, bound: null, sharpBound: 1.5, chizatBound: 2, weightChange: 0.5, linWeightChange: 0.25, loss: 1e-300, linLoss: 0, seconds: 0.01, warnings: [] };
    const csv = toCsv([row], ['m'], 'abc');
    expect(fromCsv(csv, ['m'], 'abc')).toEqual([row]);
    expect(fromCsv(csv, ['m'], 'other')).toBeNull();
    expect(fromCsv(csv, ['n'], 'abc')).toBeNull();
  });
  it('CSV is tidy: unique column names, every column explained with its unit, NA for what is not known', () => {
    // The tight example's consts T, b and R0 as grid axes: T and R0 are also result columns.
    const row: SweepRow = { alpha: 10, T: 100, set: { T: 100, b: 0.5, R0: 2 }, R0: 2, lipDh: null, lipH: null, kappa: null, error: 1e-3, errorAccuracy: null, bound: null, sharpBound: null, chizatBound: null, weightChange: 0.5, linWeightChange: 0.25, loss: 1, linLoss: 1, seconds: 0.01, warnings: [] };
    const csv = toCsv([row, row], ['T', 'b', 'R0'], 'fp');
    const lines = csv.trimEnd().split('\n');
    const data = lines.filter((l) => !l.startsWith('#'));
    const head = data[0]!.split(',');
    expect(new Set(head).size).toBe(head.length);
    expect(head.slice(0, 4)).toEqual(['set.T', 'b', 'set.R0', 'alpha']);
    // one comment line per column, naming it (results by their own name, axes by the model's)
    const explained = lines.filter((l) => l.startsWith('# ') && l.includes(':')).map((l) => l.slice(2, l.indexOf(':')));
    expect(explained.sort()).toEqual([...head].sort());
    expect(lines.find((l) => l.startsWith('# seconds:'))).toMatch(/\(s\)$/);
    // every cell filled: NA where a value is not known, never an empty cell
    for (const l of data.slice(1)) {
      const cells = l.split(',');
      expect(cells.length).toBe(head.length);
      expect(cells.every((c) => c.length > 0)).toBe(true);
      expect(cells[head.indexOf('kappa')]).toBe('NA');
    }
    expect(fromCsv(csv, ['T', 'b', 'R0'], 'fp')).toEqual([row, row]);
  });
});

describe('runSweep on the tight example', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-sweep-'));
  const opts = (out: string): SweepStudyOptions => ({
    file: 'examples/converse.ntk',
    alphas: [100, 1000],
    Ts: [],
    // Theorem 1.3's model depends on the horizon (a = 1/√T): vary both together.
    axes: { T: [10, 100], b: [1, 4] },
    shared: { file: 'examples/converse.ntk', lipDh: 'b', horizon: 'T' },
    workers: 1,
    out,
    fresh: false,
  });

  it('reproduces Theorems 1.2 and 1.3: min(κ√R0, √R0)/5 ≤ E(T) ≤ min(6κ√R0, √(8R0)); E grows like κ', async () => {
    const r = await runSweep(opts(join(dir, 'a.csv')));
    expect(r.rows.length).toBe(8);
    for (const row of r.rows) {
      const lower = Math.min(row.kappa! * Math.sqrt(row.R0), Math.sqrt(row.R0)) / 5;
      expect(row.error).toBeGreaterThanOrEqual(lower);
      expect(row.error).toBeLessThanOrEqual(row.bound!);
    }
    // E ≈ c·κ for κ ≤ 1: slope 1 in κ
    expect(Math.abs(r.fitKappa!.slope - 1)).toBeLessThan(0.15);
  });

  it('without --lip-dh, each point estimates Lip(h) and Lip(Dh) as ntk flow does: the same constants, κ and bounds', async () => {
    const shared = { file: 'examples/converse.ntk', horizon: 'T' };
    const r = await runSweep({ ...opts(''), alphas: [10, 1000], axes: { T: [10], b: [2] }, shared, out: null });
    const model = loadModel('examples/converse.ntk', { overrides: new Map([['T', 10], ['b', 2]]) });
    for (const row of r.rows) {
      const f = await flowStudy(model, { alpha: row.alpha, T: 10 });
      expect(f.lipSource).toBe('estimated');
      expect(row.lipDh).toBe(f.lipDh);
      expect(row.lipH).toBe(f.lipH);
      expect(row.kappa).toBe(f.kappa);
      expect(row.bound).toBe(f.bound);
      expect(row.lipDh!).toBeGreaterThanOrEqual(2); // Lip(Dh) = b exactly on this model: a certified upper bound
    }
    expect(r.fitKappa).not.toBeNull();
    // and with the estimate turned off, κ is unknown and the fit says why
    const off = await runSweep({ ...opts(''), alphas: [10, 1000], axes: { T: [10], b: [2] }, shared: { ...shared, lip: false }, out: null });
    expect(off.rows.every((q) => q.kappa === null && q.lipDh === null)).toBe(true);
    expect(off.fitKappa).toBeNull();
    expect(off.fitKappaNote).toMatch(/κ is unknown at every point: give --lip-dh/);
  });

  it('an interrupted sweep resumes from what it wrote', async () => {
    const out = join(dir, 'b.csv');
    const full = await runSweep(opts(out));
    const text = readFileSync(out, 'utf8').split('\n');
    const header = text.findIndex((l) => !l.startsWith('#'));
    writeFileSync(out, text.slice(0, header + 1 + 3).join('\n') + '\n'); // comments, header + 3 rows survived
    let computed = 0;
    const again = await runSweep({ ...opts(out), onRow: () => computed++ });
    expect(again.resumed).toBe(3);
    expect(computed).toBe(5);
    expect(again.rows.map((r) => r.error)).toEqual(full.rows.map((r) => r.error));
  });

  it('refuses to resume from another sweep\'s results unless --fresh', async () => {
    const out = join(dir, 'c.csv');
    await runSweep(opts(out));
    const other = { ...opts(out), shared: { ...opts(out).shared, rtol: 1e-6 } };
    await expect(runSweep(other)).rejects.toThrow(/another sweep/);
    const fresh = await runSweep({ ...other, fresh: true });
    expect(fresh.resumed).toBe(0); // every point computed again, with the new rtol
    expect(fresh.rows.length).toBeGreaterThan(0);
    expect(fresh.rows.every((r) => Number.isFinite(r.error))).toBe(true);
    // and the file is now the new sweep's: the same options resume every point from it
    expect((await runSweep(other)).resumed).toBe(fresh.rows.length);
  });
});
