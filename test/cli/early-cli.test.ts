/** `ntk early` from the command line: the summary, --plot, and bad input with its exit codes. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-early-cli-'));
const small = (body: string, X = 'normal(0, 1, seed = 1)', n = 40) => {
  const f = join(dir, `m${Math.random().toString(36).slice(2)}.ntk`);
  writeFileSync(
    f,
    `dim n = ${n}, d = 5, m = 32\ndata X : [n, d] = ${X}\nparam W : [m, d] ~ normal(0, 1, mirror = 1)\nparam v : [m] ~ normal(1, 0, mirror = -1)\n` +
      `def f(x : [d]) = ${body}\nmodel h = f(X)\nloss square(target = X[:, 0])\n`,
  );
  return f;
};

describe('ntk early', () => {
  it('prints the constants, the kernel distances, the parting step and the trajectory; --plot writes an SVG', async () => {
    const svg = join(dir, 'early.svg');
    const r = await ntk('early', small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)'), '--lr', 'W=1,v=0.5', '--steps', '40', '--every', '20', '--plot', svg);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ζ, ν\s+0\.605705509/);
    expect(r.stdout).toMatch(/‖Θ1\(W0\) − Θlin1‖/);
    expect(r.stdout).toMatch(/parting step/);
    expect(r.stdout.split('\n').filter((l) => /^\s+(0|20|40)\s/.test(l))).toHaveLength(3);
    expect(existsSync(svg)).toBe(true);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg/);
  });

  it('bad input, one table: exit code and message for each (rates, not two-layer, stability, degenerate data)', async () => {
    const tanh = small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)');
    const cases: { what: string; file: string; args: string[]; code: number; stderr?: RegExp; stdout?: RegExp }[] = [
      // learning rates (usage: exit 2, naming --lr)
      { what: 'a rate naming no parameter', file: tanh, args: ['--lr', 'U=1'], code: 2, stderr: /--lr: 'U' is not a parameter of .*\.ntk \(its parameters: W, v\)/ },
      { what: 'a negative rate', file: tanh, args: ['--lr', 'W=-2'], code: 2, stderr: /--lr: the rate of 'W' is -2: a learning rate must be ≥ 0/ },
      { what: 'a non-finite rate', file: tanh, args: ['--lr', 'W=inf'], code: 2, stderr: /--lr: the rate of 'W' is inf, not a finite number/ },
      { what: 'a NaN rate', file: tanh, args: ['--lr', 'v=nan'], code: 2, stderr: /--lr: the rate of 'v' is nan, not a finite number/ },
      { what: 'both layers frozen', file: tanh, args: ['--lr', 'W=0,v=0'], code: 2, stderr: /both layers would be frozen/ },
      { what: 'a plain rate', file: tanh, args: ['--lr', '0.1'], code: 2, stderr: /early takes rates by layer/ },
      { what: 'no rate', file: tanh, args: [], code: 2, stderr: /early needs the rates of the layers/ },
      { what: '--steps 0', file: tanh, args: ['--lr', 'W=1', '--steps', '0'], code: 2, stderr: /--steps 0: expected an integer ≥ 1/ },
      // not two-layer (model: exit 1, saying what was found)
      { what: 'a deep network', file: 'examples/deep.ntk', args: ['--lr', 'W1=1', '--steps', '3'], code: 1, stderr: /not a two-layer network f\(x\) = vᵀφ\(Wx\/√d\)\/√m: expected two parameters, a matrix W : \[m, d\] and a vector v : \[m\]; found W1 : \[/ },
      { what: 'a skip connection', file: small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m) + x[0]'), args: ['--lr', 'W=1', '--steps', '3'], code: 1, stderr: /not a two-layer network .*: the model: the inputs 'X' are used outside the first layer \(a skip connection\?\)/ },
      { what: 'a function of v', file: small('dot(v * v, tanh(W @ x / sqrt(d))) / sqrt(m)'), args: ['--lr', 'W=1', '--steps', '3'], code: 1, stderr: /not a two-layer network .*(not v itself|v must multiply)/ },
      // above the stability limit 2n/‖K‖: runs, warns with the contraction factor (exit 0)
      { what: 'a rate above the stability limit', file: tanh, args: ['--lr', 'W=400', '--steps', '1'], code: 0, stderr: /warning: the rates are above the stability limit: ‖K‖\/n = [\d.]+ > 2 \(a common rate must stay below 2n\/‖K‖\), so the linear model diverges, ‖I − K\/n‖ = [\d.]+; multiply the rates by less than [\d.e-]+/ },
      // degenerate data: every row the same is an error; a singular Σ (n ≤ d) a warning
      { what: 'inputs all the same', file: small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)', '0.5'), args: ['--lr', 'W=1', '--steps', '2'], code: 1, stderr: /error: the training inputs 'X' have a degenerate covariance \(Tr Σ = 0(\.00)?\): every row is the same/ },
      { what: 'inputs that are not finite', file: small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)', 'log(-1)'), args: ['--lr', 'W=1', '--steps', '2'], code: 1, stderr: /:2:\d+: error: the inputs 'X' hold NaN at row 0, column 0: data must be finite/ },
      { what: 'a singular covariance', file: small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)', 'normal(0, 1, seed = 1)', 4), args: ['--lr', 'W=1', '--steps', '2'], code: 0, stderr: /warning: the covariance of 'X' is singular .*n = 4 ≤ d = 5/ },
    ];
    for (const c of cases) {
      const r = await ntk('early', c.file, ...c.args);
      expect(r.code, `${c.what}: ${r.stderr}`).toBe(c.code);
      if (c.stderr) expect(r.stderr, c.what).toMatch(c.stderr);
      expect(r.stderr, c.what).not.toMatch(/\n\s+at .*\.ts:\d+/); // never a stack trace
    }
    // with --json the warnings are in the report (stderr stays quiet) with the contraction factor
    const j = await ntk('early', tanh, '--lr', 'W=400', '--steps', '1', '--json');
    expect(j.code).toBe(0);
    const rep = JSON.parse(j.stdout);
    expect(rep.stability.contraction).toBeGreaterThan(1);
    expect(rep.warnings.join('\n')).toMatch(/above the stability limit/);
  });
});
