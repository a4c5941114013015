/**
 * `--out FILE.npy|.csv|.json` on every command with array results (issue 20): the files hold
 * what --json prints (read back by the project's reader), stdout the summary naming them, bad
 * paths are usage errors before any work; and the memory guard: under a small --max-memory a
 * result that would not fit is refused with the option that fits, and that option then runs.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';
import { loadArray } from '../../src/io/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-out-cli-'));
const at = (name: string) => join(dir, name);
const mlp = ['examples/mlp-tanh.ntk', '--set', 'n=13', '--set', 'm=8'];
const json = async (...args: string[]) => {
  const r = await ntk(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};
const flatten = (x: unknown): number[] => (typeof x === 'number' ? [x] : (x as unknown[]).flat(Infinity as 1) as number[]);

describe('--out per command', () => {
  it('kernel: .npy, .csv and .json hold the kernel --json prints; the summary names the file', async () => {
    const K = flatten((await json('kernel', ...mlp)).K);
    for (const ext of ['npy', 'csv', 'json']) {
      const file = at(`K.${ext}`);
      const r = await ntk('kernel', ...mlp, '--out', file);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`written      ${file} (13 × 13, float64)`);
      expect(r.stdout).toMatch(/trace\s+\d/);
      expect(r.stdout).not.toMatch(/⋮/); // no matrix: the summary only
      const back = loadArray(file);
      expect(back.shape).toEqual([13, 13]);
      expect(Array.from(back.data)).toEqual(K);
    }
    const j = await json('kernel', ...mlp, '--out', at('K2.npy'));
    expect(j.K).toBeUndefined();
    expect(j.files).toEqual([{ key: 'K', path: at('K2.npy'), shape: [13, 13], dtype: 'float64' }]);
    expect(j.out).toBe(at('K2.npy'));
    expect(j.trace).toBeCloseTo(K.filter((_, i) => i % 14 === 0).reduce((a, b) => a + b, 0), 12);
    // a slice of K^(3): its shape in the file
    const s = await json('kernel', ...mlp, '--order', '3', '--slice', '2', '--out', at('K3.json'));
    expect(s.files[0].shape).toEqual([13, 13]);
    expect(Array.from(loadArray(at('K3.json')).data)).toEqual(flatten((await json('kernel', ...mlp, '--order', '3', '--slice', '2')).K));
  });

  it('jacobian: the file is the Jacobian --json prints, whole or written by blocks of rows under a small budget', async () => {
    const J = flatten((await json('jacobian', ...mlp)).J);
    const r = await ntk('jacobian', ...mlp, '--out', at('J.npy'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/written\s+.*J\.npy \(13 × 136, float64\)/);
    expect(Array.from(loadArray(at('J.npy')).data)).toEqual(J);
    // 200 × 136 values are 213 kB: a 150 kB budget writes the Jacobian by blocks of 70 rows
    const wide = ['examples/mlp-tanh.ntk', '--set', 'n=200', '--set', 'm=8'];
    const W = flatten((await json('jacobian', ...wide)).J);
    const j = await json('jacobian', ...wide, '--out', at('Jb.csv'), '--max-memory', '150K');
    expect(j.files[0].shape).toEqual([200, 136]);
    const blocked = loadArray(at('Jb.csv')).data;
    expect(blocked.length).toBe(W.length);
    W.forEach((x, i) => expect(Math.abs(blocked[i]! - x)).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(x))));
    expect(j.frobenius).toBeCloseTo(Math.hypot(...W), 10);
    // without --out, the same budget refuses the Jacobian's report and names --out
    const refused = await ntk('jacobian', ...wide, '--max-memory', '150K');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--out J\.npy/);
  });

  it('limit: K.<key>.json for each kernel; stdout the summary without the matrices', async () => {
    const full = await json('limit', 'examples/limit-mlp.ntk', '--width', 'm');
    const r = await ntk('limit', 'examples/limit-mlp.ntk', '--width', 'm', '--out', at('L.json'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/NTK Θ \(train × train\)/);
    expect(r.stdout).toContain(at('L.ntk.json'));
    expect(loadArray(at('L.ntk.json')).data).toEqual(Float64Array.from(full.ntk.flat()));
    const j = await json('limit', 'examples/limit-mlp.ntk', '--width', 'm', '--out', at('L.npy'));
    expect(j.ntk).toBeUndefined();
    expect(j.files.map((f: { key: string }) => f.key)).toEqual(['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest']);
    expect(j.files[2]).toEqual({ key: 'nngpCross', path: at('L.nngpCross.npy'), shape: [4, 8], dtype: 'float64' });
  });

  it('predict: P.mean, P.variance, P.cov', async () => {
    const p = await json('predict', 'examples/limit-mlp.ntk', '--width', 'm', '--T', 'inf');
    const j = await json('predict', 'examples/limit-mlp.ntk', '--width', 'm', '--T', 'inf', '--out', at('P.csv'));
    expect(j.mean).toBeUndefined();
    expect(j.files.map((f: { path: string }) => f.path)).toEqual(['mean', 'variance', 'cov'].map((k) => at(`P.${k}.csv`)));
    expect(Array.from(loadArray(at('P.mean.csv')).data)).toEqual(p.mean);
    expect(Array.from(loadArray(at('P.cov.csv')).data)).toEqual(p.cov.flat());
    expect(j.condition).toBe(p.condition);
  });

  it('flow: F.trajectory (a table: header line, the plot times and T), F.out, F.linOut; the single run only', async () => {
    const args = ['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '10', '--no-lip'];
    const full = await json(...args);
    // the run with --out also stops at the 48 plot times: the same flow to the solver's tolerance
    const j = await json(...args, '--out', at('F.json'));
    expect(j.trajectory).toBeUndefined();
    expect(j.files.map((f: { key: string }) => f.key)).toEqual(['trajectory', 'out', 'linOut']);
    expect(j.error).toBeCloseTo(full.error, 8);
    const r = await ntk(...args, '--out', at('F.csv'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/written\s+.*F\.trajectory\.csv \(\d+ × 4, float64; columns t, error, weightChange, linWeightChange\)/);
    const text = readFileSync(at('F.trajectory.csv'), 'utf8').split('\n');
    expect(text[0]).toBe('t,error,weightChange,linWeightChange');
    const traj = loadArray(at('F.trajectory.csv'));
    expect(traj.shape[0]).toBeGreaterThanOrEqual(48);
    const last = Array.from(traj.data.subarray(traj.data.length - 4));
    expect(last[0]).toBe(10);
    expect(last[1]).toBe(j.error);
    expect(Array.from(loadArray(at('F.out.csv')).data)).toEqual(Array.from(loadArray(at('F.out.json')).data));
    loadArray(at('F.out.csv')).data.forEach((x, i) => expect(x).toBeCloseTo(full.out[i], 8));
  }, 60_000);

  it('flow --lr η --steps N (descent): the trajectory at --times and the last step', async () => {
    const j = await json('flow', 'examples/meanfield.ntk', '--alpha', '4', '--lr', '0.1', '--steps', '20', '--times', '0.5,1', '--out', at('D.npy'));
    const traj = loadArray(at('D.trajectory.npy'));
    expect(traj.shape).toEqual([3, 4]);
    expect(traj.data[8]).toBeCloseTo(2, 12); // T = η·N
    expect(traj.data[9]).toBe(j.error);
  });

  it('nth: N.out, N.trueOut, N.K2, N.trueK2', async () => {
    const args = ['nth', 'examples/meanfield-test.ntk', '--order', '3', '--T', '0.1'];
    const full = await json(...args);
    const j = await json(...args, '--out', at('N.npy'));
    expect(j.K2).toBeUndefined();
    expect(j.files.map((f: { key: string }) => f.key)).toEqual(['out', 'trueOut', 'K2', 'trueK2', 'testOut', 'trueTestOut']);
    expect(Array.from(loadArray(at('N.K2.npy')).data)).toEqual(full.K2.flat());
    expect(Array.from(loadArray(at('N.testOut.npy')).data)).toEqual(full.testOut);
    const text = await ntk(...args, '--out', at('N.csv'));
    expect(text.stdout).toMatch(/error ‖h̃ − h‖/);
    expect(text.stdout).toContain(at('N.trueK2.csv'));
  }, 60_000);

  it('early: E.trajectory (a row every k steps), E.out, E.linOut', async () => {
    const f = at('early.ntk');
    writeFileSync(f, 'dim n = 40, d = 5, m = 32\ndata X : [n, d] = normal(0, 1, seed = 1)\nparam W : [m, d] ~ normal(0, 1, mirror = 1)\nparam v : [m] ~ normal(1, 0, mirror = -1)\n' +
      'def f(x : [d]) = dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)\nmodel h = f(X)\nloss square(target = X[:, 0])\n');
    const args = ['early', f, '--lr', 'W=1,v=0.5', '--steps', '40', '--every', '20'];
    const full = await json(...args);
    const r = await ntk(...args, '--out', at('E.csv'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^\s+step\s+loss/m); // the trajectory table is in the file
    expect(readFileSync(at('E.trajectory.csv'), 'utf8').split('\n')[0]).toBe('step,trainGap,loss,linLoss,gapNorm,epsilon,bound');
    const traj = loadArray(at('E.trajectory.csv'));
    expect(traj.shape).toEqual([3, 7]);
    expect(Array.from(traj.data.filter((_, i) => i % 7 === 2))).toEqual(full.trajectory.map((q: { loss: number }) => q.loss));
  });
});

describe('bad --out: a usage error before any work, nothing overwritten', () => {
  it('unknown extension, missing directory, a directory in the way: exit 2', async () => {
    mkdirSync(at('isdir.npy'));
    mkdirSync(at('S.trajectory.csv'));
    const cases: [string[], RegExp][] = [
      [['kernel', ...mlp, '--out', at('K.txt')], /--out .*K\.txt: expected a file name ending in \.npy, \.csv or \.json/],
      [['jacobian', ...mlp, '--out', at('nodir/J.npy')], /no such directory/],
      [['kernel', ...mlp, '--out', at('isdir.npy')], /isdir\.npy: it is a directory/],
      [['limit', 'examples/limit-mlp.ntk', '--width', 'm', '--out', at('K.txt')], /expected a file name ending/],
      [['flow', 'examples/meanfield.ntk', '--alpha', '4', '--T', '1e9', '--no-lip', '--out', at('S.csv')], /S\.trajectory\.csv: it is a directory/],
      [['nth', 'examples/converse.ntk', '--order', '3', '--T', '1', '--out', at('N.svg')], /expected a file name ending/],
    ];
    for (const [args, message] of cases) {
      const r = await ntk(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('a file the user had is replaced only by a complete write', async () => {
    const file = at('keep.npy');
    writeFileSync(file, 'mine');
    // the model fails (h(w0) not finite) after the path was checked: the file stays
    const bad = at('bad.ntk');
    writeFileSync(bad, 'param w = 0\nmodel h = [log(w), w]\n');
    const r = await ntk('kernel', bad, '--out', file);
    expect(r.code).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe('mine');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('the memory guard: refused before any work, with the option that fits', () => {
  // k = 200 outputs: K is 40 000 values (313 kB); printed as JSON it would need ~2.5 MB
  const wide = ['examples/mlp-tanh.ntk', '--set', 'n=200', '--set', 'm=8'];

  it('kernel --json over the budget suggests --out, which then runs', async () => {
    const r = await ntk('kernel', ...wide, '--json', '--max-memory', '2M');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ntk: error: K\^\(2\) \(200\^2 = 40000 entries\) needs 2\.5 MB with its JSON text, more than the --max-memory budget, 2\.0 MB; write it to files instead: --out K\.npy/);
    const ok = await ntk('kernel', ...wide, '--max-memory', '2M', '--out', at('W.npy'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(loadArray(at('W.npy')).shape).toEqual([200, 200]);
  });

  it('an NTK too large to hold suggests --tiles B --out K.npy, and those tiles run', async () => {
    const r = await ntk('kernel', ...wide, '--max-memory', '200K', '--out', at('T.npy'));
    expect(r.code, r.stderr).toBe(1);
    const m = /--tiles (\d+) --out K\.npy/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const ok = await ntk('kernel', ...wide, '--max-memory', '200K', '--tiles', m![1]!, '--out', at('T.npy'));
    expect(ok.code, ok.stderr).toBe(0);
    expect(loadArray(at('T.npy')).shape).toEqual([200, 200]);
  }, 60_000);

  it('jacobian --json over the budget suggests --out; tiles too large suggest more tiles', async () => {
    const r = await ntk('jacobian', ...wide, '--json', '--max-memory', '1M');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the Jacobian Dh\(w0\) \(200 × 136\) needs .* with its JSON text, more than the --max-memory budget, 1\.0 MB; write it to files instead: --out J\.npy/);
    const t = await ntk('kernel', ...wide, '--max-memory', '200K', '--tiles', '2', '--out', at('T2.npy'));
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/the largest tile \(100×100\) and its Jacobian rows \(200×136\) need .* use more tiles, --tiles 3\n$/);
  });

  it('nth: a hierarchy whose state would not fit suggests a lower order; limit suggests --out', async () => {
    const r = await ntk('nth', 'examples/meanfield-test.ntk', '--order', '4', '--T', '0.1', '--max-memory', '256K');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the hierarchy of order 4 .* more than the --max-memory budget, 256 kB; a lower --order/);
    const l = await ntk('limit', 'examples/limit-mlp.ntk', '--set', 'm=4', '--width', 'm', '--json', '--max-memory', '8K');
    expect(l.code, l.stderr).toBe(1);
    expect(l.stderr).toMatch(/the limit kernels .* --out K\.npy/);
    expect(existsSync(at('never.npy'))).toBe(false);
  });
});
