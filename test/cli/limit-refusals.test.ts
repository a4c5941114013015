/**
 * The infinite-width limit's refusals speak of the user's model (issue 21): the limit builds the
 * model at a few small widths of its own (m = 11, 13, 17, …) to see what grows with the width, and
 * a model that cannot be re-sized used to fail there with that internal width in its message
 * ("declared with shape [11]"). Now the message names the declaration, its size in the user's
 * dims, the width the file was made for, and what to write instead.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-limit-'));
const file = (name: string, src: string) => {
  const f = join(dir, name);
  writeFileSync(f, src);
  return f;
};

describe('limit and predict on a model that cannot be re-sized', () => {
  it('meanfield.ntk: the loaded readout a : [m] is named, with m = 64 and what to write; no internal width', async () => {
    for (const cmd of [['limit'], ['predict', '--T', 'inf']]) {
      const r = await ntk(cmd[0]!, 'examples/meanfield.ntk', '--width', 'm', ...cmd.slice(1));
      expect(r.code, r.stderr).toBe(1);
      const first = r.stderr.split('\n')[0]!;
      expect(first).toMatch(/^examples\/meanfield\.ntk:6:17: error: --width m: the parameter 'a' : \[m\] has fixed values \(load\("a\.npy"\), made for m = 64\), so it cannot grow with m/);
      expect(r.stderr).toMatch(/draw it: 'param a : \[m\] ~ normal\(0, 1\)'/);
      expect(r.stderr).not.toMatch(/\[11\]|\b11\b|internal/);
    }
  });

  it('data written out for one width: named as data, with the advice to take the limit in the hidden width', async () => {
    const f = file('data-width.ntk', [
      'dim n = 3, m = 4',
      'data X : [n, 1] = [[0.5], [-1], [2]]',
      'data c : [m] = [1, 2, 3, 4]',
      'param W : [m, 1] ~ normal(0, 1)',
      'param v : [m] ~ normal(0, 1)',
      'def f(x : [1]) = dot(v, c * tanh(W @ x)) / sqrt(m)',
      'model h = f(X)',
    ].join('\n'));
    const r = await ntk('limit', f, '--width', 'm');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/data-width\.ntk:3:16: error: --width m: the data 'c' : \[m\] is fixed in the file \(\[1, 2, 3, 4\], made for m = 4\), so it cannot grow with m/);
    expect(r.stderr).not.toMatch(/\[11\]/);
  });

  it('a size written as a number where it must follow the width: the widths tried are explained, with what to write', async () => {
    const f = file('fixed-size.ntk', [
      'dim n = 3, m = 8',
      'data X : [n, 1] = [[0.5], [-1], [2]]',
      'param W : [m, 1] ~ normal(0, 1)',
      'param v : [8] ~ normal(0, 1)',
      'def f(x : [1]) = dot(v, tanh(W @ x)) / sqrt(m)',
      'model h = f(X)',
    ].join('\n'));
    const r = await ntk('limit', f, '--width', 'm');
    expect(r.code, r.stderr).toBe(1);
    const first = r.stderr.split('\n')[0]!;
    expect(first).toMatch(/fixed-size\.ntk:\d+:\d+: error: --width m: the model does not build at other values of m than m = 8 \(the limit builds it at m = \d+, among others, to find what grows with the width\): /);
    expect(r.stderr).toMatch(/write every size that grows with the width in terms of m/);
  });
});
