/** `ntk kernel --order r` and `ntk derive`: JSON keys, closed forms, slices, guards, warnings. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/ir/load.ts';
import { kernel } from '../../src/index.ts';
import { relErr } from '../helpers.ts';
import { ntk } from './run-cli.ts';
import { displayWidth } from '../../src/cli/format.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-nth-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('ntk kernel --order r', () => {
  it('the tight example: K^(r) = (2b)^(r−2)·(1/√T + b·w)² at w0 = 0', async () => {
    for (const r of [3, 4, 6]) {
      const res = await ntk('kernel', 'examples/converse.ntk', '--order', String(r), '--json', '--set', 'b=3', '--set', 'T=4');
      expect(res.code).toBe(0);
      const j = JSON.parse(res.stdout);
      expect(j.order).toBe(r);
      expect(j.shape).toEqual(Array(r).fill(1));
      expect(j.slice).toEqual([]);
      let v: unknown = j.K;
      while (Array.isArray(v)) v = v[0];
      const exact = 6 ** (r - 2) * 0.25;
      expect(Math.abs((v as number) - exact)).toBeLessThan(1e-12 * exact);
    }
  });

  it('order 3 of the deep network: a k × k × k nested array equal to the library, symmetric in the first two indices', async () => {
    const res = await ntk('kernel', 'examples/deep.ntk', '--order', '3', '--json');
    expect(res.code).toBe(0);
    const j = JSON.parse(res.stdout);
    expect(j.shape).toEqual([8, 8, 8]);
    const flat = (j.K as number[][][]).flat(2);
    const lib = kernel(loadModel('examples/deep.ntk'), 3).data;
    expect(relErr(flat, lib)).toBe(0);
    expect(j.K[1][5][2]).toBe(j.K[5][1][2]);
  });

  it('--slice fixes the leading indices', async () => {
    const full = JSON.parse((await ntk('kernel', 'examples/deep.ntk', '--order', '3', '--json')).stdout).K;
    const res = await ntk('kernel', 'examples/deep.ntk', '--order', '3', '--slice', '4,6', '--json');
    const j = JSON.parse(res.stdout);
    expect(j.shape).toEqual([8]);
    expect(j.slice).toEqual([4, 6]);
    expect(relErr(j.K, full[4][6])).toBeLessThan(1e-13);
  });

  it('prints a summary and the leading k × k slices', async () => {
    const res = await ntk('kernel', 'examples/deep.ntk', '--order', '3');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/K\^\(3\)\(·, ·, ·\), 8 × 8 × 8/);
    expect(res.stdout).toMatch(/K\^\(3\)\(0, ·, ·\):/);
    expect(res.stdout).toMatch(/… 4 more 8 × 8 slices/);
  });

  it.each([
    [['--order', '1'], /from 2/],
    [['--order', '13'], /to 12/],
    [['--order', '3.5'], /integer/],
    [['--order', '3', '--slice', '0,1,2'], /at most 2/],
    [['--order', '3', '--slice', '9'], /out of range.*8 outputs/],
    [['--order', '3', '--slice', 'x'], /not an output index/],
  ])('usage errors exit 2: %s', async (args, message) => {
    const res = await ntk('kernel', 'examples/deep.ntk', ...args);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  it('a tensor that does not fit is refused before it is computed, naming the size and a slice', async () => {
    const res = await ntk('kernel', 'examples/deep.ntk', '--order', '12');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/8\^12 = 6\.872e\+10 entries \(512\.0 GB\)/);
    expect(res.stderr).toMatch(/--slice a1,…,a\d/);
    expect(res.stderr).not.toMatch(/at .*\.ts/); // no stack trace
  });

  it('warns that kernels of order ≥ 3 of a non-smooth model drop the kinks', async () => {
    const relu = file('relu.ntk', 'dim n = 3\ndata X : [n] = [0.5, -1, 2]\nparam w : [2] = [0.3, -0.2]\nmodel h = relu(w[0] * X) * w[1] + X * w[0]^2\n');
    const r2 = await ntk('kernel', relu, '--order', '2', '--json');
    expect(JSON.parse(r2.stdout).warnings).toBeUndefined();
    const r3 = await ntk('kernel', relu, '--order', '3', '--json');
    expect(r3.code).toBe(0);
    expect(JSON.parse(r3.stdout).warnings[0]).toMatch(/zero almost everywhere/);
    const text = await ntk('kernel', relu, '--order', '3');
    expect(text.stderr).toMatch(/warning: .*kernel of order 3 involves derivatives of h of order 2 to 2.*zero almost everywhere/);
    const d = await ntk('derive', relu, '--order', '3');
    expect(d.stderr).toMatch(/zero almost everywhere/);
  });
});

describe('ntk derive', () => {
  it('the tight example as a function of w, simplified', async () => {
    const res = await ntk('derive', 'examples/converse.ntk', '--order', '3');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('K3 = 4*(0.1 + 2*w)^2');
    const tex = await ntk('derive', 'examples/converse.ntk', '--order', '4', '--latex');
    // LaTeX as written (issue 21): 1/√T and b kept symbolic, K^(4) = (2b)²·(1/√T + b·w)²
    expect(tex.stdout).toContain('K^{(4)} &= 4 \\, b^{2} \\, \\left(\\frac{1}{\\sqrt{T}} + b \\, w\\right)^{2}');
    expect(tex.stdout).toMatch(/\\begin\{aligned\}[\s\S]*\\end\{aligned\}/);
  });

  it('the mean-field network (one output per row): a function of r data rows, shared subexpressions named once', async () => {
    const res = await ntk('derive', 'examples/meanfield.ntk', '--order', '3', '--json');
    expect(res.code).toBe(0);
    const j = JSON.parse(res.stdout);
    expect(j.order).toBe(3);
    expect(j.outputs).toBe(16);
    expect(j.form).toBe('rows');
    expect(j.text).toMatch(/^t1 = tanh\(4\*X_1 @ Uᵀ\)$/m);
    expect(j.text).toMatch(/^K3\(X_1, X_2, X_3\) = /m);
    // every named subexpression is defined once and used at least twice
    const names = [...j.text.matchAll(/^(t\d+) = /gm)].map((m: RegExpMatchArray) => m[1]);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(j.text.split(new RegExp(`\\b${n}\\b`)).length).toBeGreaterThan(2);
    expect(j.latex).toMatch(/K\^\{\(3\)\}\(X_\{1\}, X_\{2\}, X_\{3\}\) &= /);
    expect(j.latex).toContain('\\tanh\\left(');
    const plain = await ntk('derive', 'examples/meanfield.ntk', '--order', '3');
    expect(plain.stdout).toMatch(/^# K\^\(3\)\(a1, a2, a3\) = K3\(X_1, X_2, X_3\) with X_1 = row a1/);
  });

  it('a model that is not one output per row: an r-linear form of index vectors', async () => {
    const f = file('mix.ntk', 'dim n = 3\ndata X : [n] = [0.5, -1, 2]\nparam w : [2] = [0.3, -0.2]\nmodel h = tanh(w[0] * X) + w[1] * sum(X * w[0])\n');
    const j = JSON.parse((await ntk('derive', f, '--order', '3', '--json')).stdout);
    expect(j.form).toBe('vectors');
    expect(j.text).toMatch(/^K3\[u1, u2, u3\] = /m);
  });

  it('order below 2 is a usage error', async () => {
    expect((await ntk('derive', 'examples/converse.ntk', '--order', '1')).code).toBe(2);
  });
});

describe('ntk nth', () => {
  it('JSON keys of DESIGN.md; the error shrinks with the order', async () => {
    const errors: number[] = [];
    for (const p of ['2', '3', '4']) {
      const res = await ntk('nth', 'examples/deep.ntk', '--order', p, '--T', '0.5', '--set', 'm=16', '--json');
      expect(res.code).toBe(0);
      const j = JSON.parse(res.stdout);
      expect(Object.keys(j)).toEqual(expect.arrayContaining(['order', 'T', 'out', 'trueOut', 'error', 'K2', 'trueK2']));
      expect(j.out.length).toBe(8);
      expect(j.K2.length).toBe(8);
      errors.push(j.error);
    }
    expect(errors[0]).toBeGreaterThan(errors[1]!);
    expect(errors[1]).toBeGreaterThan(errors[2]!);
  });
  it('with a test declaration: testOut, trueTestOut, testError at the held-out inputs (eq. 2.11)', async () => {
    const errors: number[] = [];
    for (const p of ['2', '3', '4']) {
      const res = await ntk('nth', 'examples/meanfield-test.ntk', '--order', p, '--T', '0.1', '--json');
      expect(res.code).toBe(0);
      const j = JSON.parse(res.stdout);
      expect(j.testOut.length).toBe(8);
      expect(j.trueTestOut.length).toBe(8);
      const d = Math.hypot(...(j.testOut as number[]).map((x, i) => x - j.trueTestOut[i]));
      expect(Math.abs(d - j.testError)).toBeLessThan(1e-12 + 1e-9 * d);
      errors.push(j.testError);
    }
    // At small t the error at new inputs shrinks with p (here 4.6e-7, 7.4e-8, 2.6e-11).
    expect(errors[0]).toBeGreaterThan(errors[1]!);
    expect(errors[1]).toBeGreaterThan(errors[2]!);
    const table = await ntk('nth', 'examples/meanfield-test.ntk', '--order', '2', '--T', '0.5');
    expect(table.stdout).toMatch(/test error/);
    const plain = JSON.parse((await ntk('nth', 'examples/deep.ntk', '--order', '2', '--T', '0.1', '--set', 'm=16', '--json')).stdout);
    expect(plain.testOut).toBeUndefined();
  });
  it('usage errors: no horizon, no loss', async () => {
    expect((await ntk('nth', 'examples/deep.ntk', '--order', '3')).code).toBe(2);
    const noLoss = file('noloss.ntk', 'param w = 0.5\nmodel h = w^3\n');
    const r = await ntk('nth', noLoss, '--order', '3', '--T', '1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no loss/);
  });
});

describe('ntk scaling', () => {
  const toy = file('toy.ntk', 'dim m = 4\nparam w : [m] ~ uniform(1, 1)\nmodel h = sum(w^2) / (2 * sqrt(m))\nloss square(target = 1)\n');
  it('JSON: points and slope fits (exact on a power-law toy)', async () => {
    const r = await ntk('scaling', toy, '--widths', '4,16,64', '--orders', '2,4', '--seeds', '2', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.dim).toBe('m');
    expect(j.points.length).toBe(3 * 2 * 2);
    const fit = (q: string) => j.fits.find((f: { quantity: string }) => f.quantity === q);
    expect(fit('K2').slope).toBeCloseTo(0, 10);
    expect(fit('K4').slope).toBeCloseTo(-1, 10);
    const text = await ntk('scaling', toy, '--widths', '4,16', '--orders', '3', '--seeds', '1', '--T', '0.1');
    expect(text.stdout).toMatch(/K3: -0\.5/);
    // ΔK2 is 0 at m = 4 (h(w0) is on target): one positive value gives no slope, and says so
    expect(text.stdout).toMatch(/ΔK2: no slope \(fewer than two widths with a positive value\)/);
  });
  it('usage errors', async () => {
    expect((await ntk('scaling', toy, '--orders', '2')).code).toBe(2); // no --widths
    const r = await ntk('scaling', toy, '--widths', '4,8', '--dim', 'width');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no dim or const named 'width'/);
    expect((await ntk('scaling', toy, '--widths', '4,x')).code).toBe(2);
    expect((await ntk('scaling', toy, '--widths', '4', '--orders', '1')).code).toBe(2);
  });
});

describe('tables on a terminal', () => {
  it('align labels with combining marks (h̃, K̃2) by their displayed width', async () => {
    const r = await ntk('nth', 'examples/meanfield-test.ntk', '--order', '3', '--T', '0.1');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
    // every value starts in the same terminal column: after the widest label and two spaces
    const starts = lines.map((l) => displayWidth(/^( {2}.*?\S) {2,}(?=\S)/.exec(l)![0]));
    expect(new Set(starts).size).toBe(1);
    expect(lines.some((l) => l.includes('h̃'))).toBe(true);
    expect(displayWidth('α·h̃(T)')).toBe(6);
  });
});
