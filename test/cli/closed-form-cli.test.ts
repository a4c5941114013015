/**
 * Closed forms of scalar models in `ntk print --derivative` and `ntk derive` (mathjs, loaded on
 * first use), and the start-up path without mathjs: the built command runs every other command
 * from a copy that has no node_modules at all.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate } from 'mathjs';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const POINTS = [-0.7, 0.3, 1.9];

describe('closed forms of scalar models', () => {
  it('print --derivative: h and dh/dw of the converse toy, h = w/√T + b·w²/2 (T = 100, b = 2)', async () => {
    const r = await ntk('print', 'examples/converse.ntk', '--derivative', '--json');
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout).closedForm;
    expect(c.variable).toBe('w');
    for (const w of POINTS) {
      expect(evaluate(c.h.text, { w })).toBeCloseTo(w / 10 + w * w, 14);
      expect(evaluate(c.dh.text, { w })).toBeCloseTo(0.1 + 2 * w, 14);
    }
    expect(c.dh.latex).toMatch(/w/);
    const text = await ntk('print', 'examples/converse.ntk', '--derivative');
    expect(text.stdout).toMatch(/# simplified \(mathjs\)\nh = .*\ndh\/dw = /);
  });

  it('derive --order r: K^(r)(w) = (2b)^(r−2)·(1/√T + b·w)² on the converse toy, and sin′² on sin', async () => {
    for (const r of [2, 3, 4]) {
      const j = JSON.parse((await ntk('derive', 'examples/converse.ntk', '--order', String(r), '--json')).stdout);
      for (const w of POINTS) expect(evaluate(j.closedForm.text, { w })).toBeCloseTo(4 ** (r - 2) * (0.1 + 2 * w) ** 2, 12);
    }
    const s = JSON.parse((await ntk('derive', 'examples/sin.ntk', '--json')).stdout);
    for (const w of POINTS) expect(evaluate(s.closedForm.text, { w })).toBeCloseTo(Math.cos(w) ** 2, 14);
    const tex = await ntk('derive', 'examples/converse.ntk', '--order', '3', '--latex');
    expect(tex.stdout).toMatch(/% simplified \(mathjs\)\nK\^\{\(3\)\} = /);
  });

  it('too long to simplify quickly: null, not a slow command', async () => {
    const j = JSON.parse((await ntk('derive', 'examples/tanh.ntk', '--order', '6', '--json')).stdout);
    expect(j.closedForm).toBeNull();
  });

  it('models with more than one weight or output have none (the key is absent)', async () => {
    expect(JSON.parse((await ntk('print', 'examples/meanfield.ntk', '--derivative', '--json')).stdout)).not.toHaveProperty('closedForm');
    expect(JSON.parse((await ntk('derive', 'examples/meanfield.ntk', '--json')).stdout)).not.toHaveProperty('closedForm');
    expect(JSON.parse((await ntk('print', 'examples/converse.ntk', '--json')).stdout)).not.toHaveProperty('closedForm'); // without --derivative
  });
});

describe('mathjs is off the start-up path', () => {
  const built = existsSync('dist/ntk.cjs');
  it.skipIf(!built)('the built command runs from a copy without node_modules: --version, check, derive of a vector model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-nomathjs-'));
    cpSync('bin', join(dir, 'bin'), { recursive: true });
    cpSync('dist', join(dir, 'dist'), { recursive: true });
    cpSync('package.json', join(dir, 'package.json'));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [join(dir, 'bin/ntk.js'), ...args], { encoding: 'utf8', env: { ...process.env, NTK_SNAPSHOT: 'off', NODE_PATH: '' } });
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    for (const args of [['--version'], ['check', 'examples/converse.ntk', '--json'], ['derive', 'examples/meanfield.ntk', '--json'], ['print', 'examples/converse.ntk']]) {
      const r = run(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it.skipIf(!existsSync('dist/ntk.blob') || process.platform === 'win32')('from the start-up snapshot, mathjs loads through the launcher\'s import hook when a closed form is shown', () => {
    const r = spawnSync('bin/ntk.js', ['derive', 'examples/converse.ntk', '--order', '3', '--json'], { encoding: 'utf8', env: { ...process.env, NTK_SNAPSHOT: 'check' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/started from the start-up snapshot/);
    expect(r.stderr).not.toMatch(/not started/);
    expect(evaluate(JSON.parse(r.stdout).closedForm.text, { w: 0.3 })).toBeCloseTo(4 * 0.7 ** 2, 13);
  });
});
