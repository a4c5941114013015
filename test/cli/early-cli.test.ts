/** `ntk early` from the command line: the summary, --plot, and bad input with its exit codes. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-early-cli-'));
const small = (body: string, X = 'normal(0, 1, seed = 1)') => {
  const f = join(dir, `m${Math.random().toString(36).slice(2)}.ntk`);
  writeFileSync(
    f,
    `dim n = 40, d = 5, m = 32\ndata X : [n, d] = ${X}\nparam W : [m, d] ~ normal(0, 1, mirror = 1)\nparam v : [m] ~ normal(1, 0, mirror = -1)\n` +
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

  it('refuses a model that is not two-layer (exit 1) and says why', async () => {
    const r = await ntk('early', 'examples/deep.ntk', '--lr', 'W1=1', '--steps', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a two-layer network f\(x\) = vᵀφ\(Wx\/√d\)\/√m: expected two parameters/);
  });

  it('bad rates and options exit 2 naming the option', async () => {
    const f = small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)');
    const cases: [string[], RegExp][] = [
      [['--lr', '0.1'], /early takes rates by layer/],
      [['--lr', 'U=1'], /'U' is not a parameter/],
      [['--lr', 'W=-2'], /must be ≥ 0/],
      [['--lr', 'W=1', '--steps', '0'], /--steps 0: expected an integer ≥ 1/],
      [[], /early needs the rates of the layers/],
    ];
    for (const [args, msg] of cases) {
      const r = await ntk('early', f, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('inputs that are all the same are a data error (exit 1)', async () => {
    const r = await ntk('early', small('dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)', '0.5'), '--lr', 'W=1', '--steps', '2', '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/degenerate covariance/);
  });
});
