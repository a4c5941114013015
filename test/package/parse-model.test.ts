// parseModel (text) and loadModel (file) with the command line's --set/--seed as options.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NtkError, evaluate, loadModel, parseModel } from '../../src/index.ts';

const TIGHT = `const T = 100, b = 2
param w = 0.5
model h = w / sqrt(T) + b * w^2 / 2
loss square(target = 1)
`;

describe('parseModel', () => {
  it('elaborates text, with set as an object, a Map or pairs', () => {
    const h = (set?: Parameters<typeof parseModel>[1]) => evaluate(parseModel(TIGHT, set))[0]!;
    // h(0.5) = 0.5/√T + b/8
    expect(h()).toBeCloseTo(0.5 / 10 + 2 / 8, 15);
    expect(h({ set: { T: 400, b: 4 } })).toBeCloseTo(0.5 / 20 + 4 / 8, 15);
    expect(h({ set: new Map([['T', 400]]) })).toBeCloseTo(0.5 / 20 + 2 / 8, 15);
    expect(h({ set: [['b', 0]] })).toBeCloseTo(0.05, 15);
    // set wins over the older `overrides` for the same name
    expect(h({ overrides: new Map([['b', 0]]), set: { b: 8 } })).toBeCloseTo(0.05 + 1, 15);
  });

  it('reports errors at file:line:col, with the given file name', () => {
    let err: unknown;
    try {
      parseModel('param w = 0\nmodel h = w +* 2\n', { file: 'mine.ntk' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NtkError);
    const d = (err as NtkError).diagnostics[0]!;
    expect(d.file).toBe('mine.ntk');
    expect(d.span?.line).toBe(2);
  });

  it('refuses a name the model lacks and a value that is not a number', () => {
    expect(() => parseModel(TIGHT, { set: { m: 3 } })).toThrow(/no dim or const named 'm'/);
    expect(() => parseModel(TIGHT, { set: { T: Number.NaN } })).toThrow(/set\.T: expected a finite number/);
    expect(() => parseModel(TIGHT, { set: { T: '4' as unknown as number } })).toThrow(/set\.T: expected a finite number, got "4"/);
  });

  it('draws with the seed, like --seed', () => {
    const src = 'param a : [4] ~ normal(0, 1)\nmodel h = sum(a)\n';
    const a0 = parseModel(src).w0;
    expect(parseModel(src, { seed: 0 }).w0).toEqual(a0);
    expect(parseModel(src, { seed: 1 }).w0).not.toEqual(a0);
  });

  it('reads data relative to `file`, and loadModel relative to its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-parse-'));
    writeFileSync(join(dir, 'x.json'), '[1, 2, 3]');
    const src = 'data x : [3] = load("x.json")\nparam w = 2\nmodel h = w * x\n';
    expect([...evaluate(parseModel(src, { file: join(dir, 'm.ntk') }))]).toEqual([2, 4, 6]);
    writeFileSync(join(dir, 'm.ntk'), src);
    expect([...evaluate(loadModel(join(dir, 'm.ntk'), { set: {} }))]).toEqual([2, 4, 6]);
    expect(() => loadModel(join(dir, 'missing.ntk'))).toThrow(/cannot read .*missing\.ntk.*: no such file/);
  });
});
