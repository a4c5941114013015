/** `ntk eval` and `ntk check` on a model with a `test` declaration (outputs on held-out inputs). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadArray } from '../../src/io/data.ts';
import { evaluateTest, loadModel } from '../../src/index.ts';
import { relErr } from '../helpers.ts';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-test-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('eval', () => {
  it('--json reports testH = g(w0), testOutputs and the test loss ½‖α·g − yt/√n‖²', async () => {
    const r = await ntk('eval', 'examples/meanfield-test.ntk', '--json', '--alpha', '3');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.outputs).toBe(16);
    expect(j.testOutputs).toBe(8);
    expect(j.testH).toHaveLength(8);
    const g = evaluateTest(loadModel('examples/meanfield-test.ntk'));
    expect(j.testH).toEqual(Array.from(g));
    // The target from the data file itself, not from the model's graph.
    const yt = loadArray('examples/yt.npy').data;
    let s = 0;
    for (let i = 0; i < 8; i++) s += (3 * g[i]! - yt[i]! / 4) ** 2;
    expect(relErr([j.testLoss], [s / 2])).toBeLessThan(1e-14);
  });

  it('a test declaration without a target: testLoss is null', async () => {
    const f = file('notarget.ntk', 'param w : [2] = [1, 2]\ndata Z : [3] = [1, 2, 3]\nmodel h = w\ntest g = Z * w[1]');
    const j = JSON.parse((await ntk('eval', f, '--json')).stdout);
    expect(j.testH).toEqual([2, 4, 6]);
    expect(j.testLoss).toBeNull();
  });

  it('a model without a test declaration has none of the test keys', async () => {
    const j = JSON.parse((await ntk('eval', 'examples/meanfield.ntk', '--json')).stdout);
    expect(Object.keys(j).filter((key) => key.startsWith('test'))).toEqual([]);
  });

  it('the readable summary has a line for the test outputs and one for their loss', async () => {
    const r = await ntk('eval', 'examples/meanfield-test.ntk');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/test outputs\s+ht : \[8\] \(8\)/);
    expect(r.stdout).toMatch(/ht\(w0\)\s+\[0\.00\d+, .*\]  \(test outputs\)/);
    expect(r.stdout).toMatch(/test loss\s+0\.\d+/);
  });
});

describe('print', () => {
  it('prints the test outputs after the model', async () => {
    const r = await ntk('print', 'examples/meanfield-test.ntk');
    expect(r.stdout).toBe(
      'h = 0.03125*sum(a*(0.5 + 0.5*tanh(4*X @ Uᵀ)), axes=[1])\nht = 0.03125*sum(a*(0.5 + 0.5*tanh(4*Xt @ Uᵀ)), axes=[1])\n',
    );
  });
});

describe('check', () => {
  it('--json counts the test outputs', async () => {
    const r = await ntk('check', 'examples/meanfield-test.ntk', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, params: 256, outputs: 16, testOutputs: 8, diagnostics: [] });
  });

  it('non-smooth test outputs are a located warning', async () => {
    const f = file('relu.ntk', 'param w = 1\nmodel h = w\ntest g = relu(w)\n');
    const j = JSON.parse((await ntk('check', f, '--json')).stdout);
    expect(j.diagnostics).toEqual([
      { severity: 'warning', message: "the test outputs 'g' use a non-smooth function (relu, abs or sign)", file: f, line: 3, col: 1 },
    ]);
  });

  it('a second test declaration: exit 1, located, with a caret', async () => {
    const f = file('two.ntk', 'param w = 0\nmodel h = w\ntest g = w\ntest g2 = 2 * w\n');
    const r = await ntk('check', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${f}:4:1: error: a second test declaration 'g2': a file declares at most one (the first is 'g' at line 3)\n  test g2 = 2 * w\n  ^^^^^^^^^^^^^^^\n`,
    );
  });
});
