/**
 * The memory guard counts working sets, not only results (issue 20, item 4): each study's
 * estimate of the peak bytes it holds (`limitKernels`' dry derivation, `flowWorkingSet`,
 * `descentWorkingSet`, `earlyWorkingSet`, `lipWorkingSet`, `gpPredictWorkingSet`,
 * `ensembleWorkingSet`, `denseNtkBytes`) is compared with what a run actually takes — the peak
 * RSS of a fresh process (the built library, dist/index.cjs) above its RSS just before the
 * call — at sizes where the arrays dominate; and a tight --max-memory refuses each command
 * before it allocates, with exit 1, the size needed and the option that helps, while a
 * sufficient one runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from '../cli/run-cli.ts';
import { setMemoryBudget } from '../../src/io/memory.ts';
import { ensureFlowMemory } from '../../src/dynamics/flow.ts';

const dist = resolve('dist/index.cjs');
const dir = mkdtempSync(join(tmpdir(), 'ntk-working-set-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** A depth-3 network of the limit bench (d = 8), n inputs, activation `act`, with nt test inputs. */
const limitModel = (n: number, act: string, nt = 0) => `dim n = ${n}, d = 8, m = 64${nt ? `, nt = ${nt}` : ''}
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = normal(0, 1, seed = 2)
${nt ? 'data Xt : [nt, d] = normal(0, 1, seed = 3)' : ''}
param W1 : [m, d] ~ normal(0, 1)
param b1 : [m] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param W3 : [m, m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = ${act}(W1 @ x / sqrt(d) + 0.1 * b1)
  let z2 = ${act}(W2 @ z1 / sqrt(m))
  let z3 = ${act}(W3 @ z2 / sqrt(m))
  return dot(v, z3) / sqrt(m)
}
model h = f(X)
loss square(target = y)
${nt ? 'test ht = f(Xt)' : ''}
`;

/** A one-hidden-layer tanh network with the square loss: n outputs, p = m·d + m parameters. */
const mlpModel = (n: number, d: number, m: number) => `dim n = ${n}, d = ${d}, m = ${m}
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = normal(0, 1, seed = 2)
param W : [m, d] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) = dot(a, tanh(W @ x / sqrt(d))) / sqrt(m)
model h = f(X)
loss square(target = y)
`;

/** The two-layer erf network of `early` (seed 004's form): n inputs of dimension d, width m. */
const earlyModel = (n: number, d: number, m: number) => `dim n = ${n}, d = ${d}, m = ${m}
data X : [n, d] = normal(0, 1, seed = 1)
param W : [m, d] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) = dot(v, erf(W @ x / sqrt(d))) / sqrt(m)
model h = f(X)
loss square(target = X[:, 0])
`;

/**
 * Runs `body` (JavaScript with `lib` the built library and `model` the compiled `source`) in a
 * fresh process; `body` returns the estimate in bytes. Gives the estimate and the peak RSS
 * above the RSS just before `body` ran.
 */
function measure(source: string, body: string): { estimate: number; used: number } {
  const script = file(`m${Math.random().toString(36).slice(2)}.cjs`, `
const lib = require(${JSON.stringify(dist)});
const model = lib.compile(${JSON.stringify(source)}, ${JSON.stringify(join(dir, 'model.ntk'))});
const before = process.memoryUsage().rss;
const estimate = (() => { ${body} })();
const used = process.resourceUsage().maxRSS * 1024 - before;
process.stdout.write(JSON.stringify({ estimate, used }));
`);
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', maxBuffer: 1 << 24 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { estimate: number; used: number };
}

/** The estimate is within `factor` of the measured peak, both ways. */
function sane(m: { estimate: number; used: number }, factor: number, what: string) {
  const ratio = m.estimate / m.used;
  console.log(`${what}: estimate ${(m.estimate / 2 ** 20).toFixed(1)} MB, measured ${(m.used / 2 ** 20).toFixed(1)} MB, ratio ${ratio.toFixed(2)}`);
  expect(ratio, `${what}: estimate ${(m.estimate / 2 ** 20).toFixed(0)} MB, measured ${(m.used / 2 ** 20).toFixed(0)} MB`).toBeGreaterThan(1 / factor);
  expect(ratio, `${what}: estimate ${(m.estimate / 2 ** 20).toFixed(0)} MB, measured ${(m.used / 2 ** 20).toFixed(0)} MB`).toBeLessThan(factor);
}

describe.skipIf(!existsSync(dist))('working-set estimates against the measured peak', () => {
  it('limit: the dry derivation counts the N×N arrays (relu closed forms, tanh quadrature)', () => {
    for (const act of ['relu', 'tanh']) {
      const m = measure(limitModel(1000, act), `
        let work = 0;
        lib.limitKernels(model, { width: ['m'], checkWorkingSet: (b) => { work = b; } });
        return work + 16 * 2 * 1000 * 1000; // and the kernels, as computed and as rows of numbers
      `);
      sane(m, 2, `limit ${act}`);
    }
  }, 300_000);

  it('predict: the derivation, then the GP buffers next to the limit kernels', () => {
    const m = measure(limitModel(600, 'relu', 300), `
      let work = 0;
      const lim = lib.limitKernelsDense(model, { width: ['m'], checkWorkingSet: (b) => { work = b; } });
      lib.gpPredict(lim, lib.squareTargets(model), { t: Infinity });
      const N = 600, nt = 300;
      return 8 * 2 * (N * N + nt * N + nt * nt) + work + lib.gpPredictWorkingSet(N, nt, false);
    `);
    sane(m, 2, 'predict');
  }, 300_000);

  it('flow, descent: the Jacobian, K0, the linearized products and the solver state', () => {
    const src = mlpModel(200, 32, 1024); // k = 200, p = 33,792: J0 is 54 MB
    const f = measure(src, `
      lib.flow(model, { alpha: 4, T: 0.05, lipDh: 1 });
      return lib.flowWorkingSet(200, model.paramCount, true);
    `);
    sane(f, 2, 'flow');
    const d = measure(src, `
      lib.gradientDescent(model, { alpha: 4, lr: 0.1, steps: 3 });
      return lib.descentWorkingSet(200, model.paramCount);
    `);
    sane(d, 2, 'descent');
  }, 300_000);

  it('kernel: the NTK from the Jacobian holds J and K', () => {
    const m = measure(mlpModel(400, 32, 2048), `
      lib.kernel(model, 2, { structure: 'dense' });
      return lib.denseNtkBytes(400, model.paramCount);
    `);
    sane(m, 2, 'kernel dense');
  }, 300_000);

  it('early: the n × n kernels and the n × m passes', () => {
    const m = measure(earlyModel(1200, 16, 1200), `
      lib.early(model, { lr: { W: 1 }, steps: 2, every: 1 });
      return lib.earlyWorkingSet(1200, 1200, 16, 0);
    `);
    sane(m, 2, 'early');
  }, 300_000);
});

describe('a tight --max-memory refuses before allocating; a sufficient one runs', () => {
  const limit = file('limit.ntk', limitModel(300, 'relu'));
  const mlp = file('mlp.ntk', mlpModel(64, 8, 256));

  it('limit names the size, the budget and what to take instead; predict too', async () => {
    const refused = await ntk('limit', limit, '--width', 'm', '--max-memory', '4M');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ntk: error: the limit kernels \(NNGP and NTK on 300 training outputs\) and their derivation needs [\d.]+ MB with its report \([\d.]+ MB of it buffers\), more than the --max-memory budget, 4\.0 MB; fewer inputs, or raise --max-memory/);
    const ok = await ntk('limit', limit, '--width', 'm', '--max-memory', '64M', '--out', join(dir, 'K.npy'));
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('flow, descent and lip refuse with the option that helps, and run with enough', async () => {
    const flow = await ntk('flow', mlp, '--alpha', '4', '--T', '0.1', '--lip-dh', '1', '--max-memory', '2M');
    expect(flow.code).toBe(1);
    expect(flow.stderr).toMatch(/^ntk: error: the flow on 64 outputs and 2304 parameters \(2 solves at once: the flow and its accuracy check\) needs [\d.]+ MB, more than the --max-memory budget, 2\.0 MB: fewer outputs or parameters \(--set\), or raise --max-memory/);
    const descent = await ntk('flow', mlp, '--alpha', '4', '--lr', '0.1', '--steps', '2', '--max-memory', '1M');
    expect(descent.code).toBe(1);
    expect(descent.stderr).toMatch(/^ntk: error: gradient descent on 64 outputs and 2304 parameters .* needs [\d.]+ (kB|MB), more than the --max-memory budget/);
    const lip = await ntk('lip', mlp, '--radius', '0.1', '--max-memory', '1M');
    expect(lip.code).toBe(1);
    expect(lip.stderr).toMatch(/^ntk: error: the Lipschitz estimates of .* needs [\d.]+ MB, more than the --max-memory budget, 1\.0 MB: --lower-only \(no enclosure\), fewer outputs or parameters/);
    for (const args of [['flow', mlp, '--alpha', '4', '--T', '0.1', '--lip-dh', '1'], ['flow', mlp, '--alpha', '4', '--lr', '0.1', '--steps', '2']]) {
      const r = await ntk(...args, '--max-memory', '64M');
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('predict (the GP and the --seeds ensemble), early and nth refuse before their work', async () => {
    const withTest = file('predict.ntk', limitModel(200, 'relu', 100));
    const gp = await ntk('predict', withTest, '--width', 'm', '--T', 'inf', '--diag', '--max-memory', '4M');
    expect(gp.code).toBe(1);
    expect(gp.stderr).toMatch(/^ntk: error: the prediction at 100 test outputs from the limit kernels needs [\d.]+ MB with its report \([\d.]+ MB of it buffers\), more than the --max-memory budget, 4\.0 MB; fewer training or test inputs, or raise --max-memory/);
    const ok = await ntk('predict', withTest, '--width', 'm', '--T', 'inf', '--diag', '--max-memory', '32M');
    expect(ok.code, ok.stderr).toBe(0);
    const seeds = await ntk('predict', file('seeds.ntk', limitModel(200, 'tanh', 100).replace('m = 64', 'm = 128')), '--seeds', '4', '--T', 'inf', '--max-memory', '4M');
    expect(seeds.code).toBe(1);
    expect(seeds.stderr).toMatch(/^ntk: error: the prediction at 100 test outputs with their covariance \(4 seeds\) needs [\d.]+ MB with its report \([\d.]+ MB of it buffers\), more than the --max-memory budget, 4\.0 MB; --diag \(variances only\), or fewer inputs or parameters \(--set\), or raise --max-memory/);
    const early400 = file('early.ntk', earlyModel(400, 8, 400));
    const early = await ntk('early', early400, '--lr', 'W=1', '--steps', '2', '--every', '1', '--max-memory', '4M');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^ntk: error: early on 400 inputs at width 400 needs 26\.9 MB, more than the --max-memory budget, 4\.0 MB: fewer inputs or a smaller width \(--set\), or raise --max-memory/);
    const nth = await ntk('nth', mlp, '--order', '2', '--T', '0.1', '--max-memory', '2M');
    expect(nth.code).toBe(1);
    expect(nth.stderr).toMatch(/^ntk: error: the hierarchy of order 2 on 64 outputs needs [\d.]+ MB with its report \([\d.]+ MB of it buffers\), more than the --max-memory budget, 2\.0 MB; fewer outputs, or raise --max-memory/);
  });

  it("a sweep's workers are counted at once, naming fewer --workers", () => {
    setMemoryBudget(10 * 2 ** 20);
    try {
      expect(() => ensureFlowMemory(64, 2304, true)).not.toThrow();
      expect(() => ensureFlowMemory(64, 2304, true, 3, true)).toThrow(/^the flow on 64 outputs and 2304 parameters \(3 solves at once, one per worker\) needs [\d.]+ MB, more than the --max-memory budget, 10\.0 MB: fewer --workers, fewer outputs or parameters/);
    } finally {
      setMemoryBudget(null);
    }
  });

  it('ntk sweep takes --max-memory (in process: the points one after another)', async () => {
    const refused = await ntk('sweep', mlp, '--alpha', '1,2', '--T', '0.1', '--no-lip', '--max-memory', '1M');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ntk: error: the flow on 64 outputs and 2304 parameters needs [\d.]+ MB, more than the --max-memory budget, 1\.0 MB: fewer outputs or parameters/);
    const ok = await ntk('sweep', mlp, '--alpha', '1,2', '--T', '0.1', '--no-lip', '--max-memory', '64M');
    expect(ok.code, ok.stderr).toBe(0);
  });

  // Workers need the bundle (bin/ntk.js runs dist/ntk.cjs; a sweep from the sources runs in one thread).
  it.skipIf(!existsSync(resolve('dist/ntk.cjs')))("a sweep's workers: the points running at once against --max-memory, and each worker against its share", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/ntk.js', 'sweep', mlp, '--alpha', '1', '--T', '0.1', '--no-lip', ...args], { encoding: 'utf8', env: { ...process.env, NTK_SNAPSHOT: 'off' } });
    const both = cli('--alpha', '1,2', '--workers', '2', '--max-memory', '12M');
    expect(both.status).toBe(1);
    expect(both.stderr).toMatch(/^ntk: error: the flow on 64 outputs and 2304 parameters \(2 solves at once, one per worker\) needs [\d.]+ MB, more than the --max-memory budget, 12\.0 MB: fewer --workers/);
    // The first point (m = 8) fits the budget twice over; the second (m = 2048: 18,432
    // parameters, ~64 MB) fits 100 MB but not a worker's half of it.
    const larger = cli('--workers', '2', '--set', 'm=8,2048', '--max-memory', '100M');
    expect(larger.status).toBe(1);
    expect(larger.stderr).toMatch(/^ntk: error: at α = 1, T = 0\.1, \{"m":2048\}: the flow on 64 outputs and 18432 parameters needs [\d.]+ MB, more than its share of the --max-memory budget \(100\.0 MB shared by 2 workers\), 50\.0 MB/);
    const alone = cli('--workers', '1', '--set', 'm=8,2048', '--max-memory', '100M');
    expect(alone.status, alone.stderr).toBe(0);
  }, 120_000);

  it('kernel --structure dense refuses J and K together, naming the products; auto takes them', async () => {
    const dense = await ntk('kernel', mlp, '--structure', 'dense', '--max-memory', '2M');
    expect(dense.code).toBe(1);
    expect(dense.stderr).toMatch(/^ntk: error: the NTK from the Jacobian \(J: 64 × 2304, and K: 64 × 64\) needs 2\.8 MB, more than the 2\.0 MB available; drop --structure dense \(NTK-vector products hold no Jacobian\)/);
    const auto = await ntk('kernel', mlp, '--max-memory', '2M', '--out', join(dir, 'K.npy'));
    expect(auto.code, auto.stderr).toBe(0);
  });
});
