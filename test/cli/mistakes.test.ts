/**
 * Every user mistake gets exit 1 (model, data) or 2 (usage) with a located or option-named
 * message: no internal error, no stack trace, no partial output file, and output paths checked
 * before any computation (issue 21, item 4). One row per case of the issue.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';
import { writeFileAtomic } from '../../src/io/atomic.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-mistakes-'));
const file = (name: string, src: string) => { const f = join(dir, name); writeFileSync(f, src); return f; };
const conv = 'examples/converse.ntk';
const nan = file('nan.ntk', 'param w = 0\nmodel h = log(w)\nloss square(target = 1)\n');
const grid = file('grid.ntk', 'dim m = 4\nparam a : [m] = 0.5\nmodel h = sum(tanh(a))\nloss square(target = 1)\n');
const missing = join(dir, 'no-such-dir');

// [case, args, exit code, first line of stderr]
const cases: [string, string[], number, RegExp][] = [
  ['--alpha 1e300 (R0 overflows)', ['flow', grid, '--alpha', '1e300', '--T', '1'], 1, /^ntk: error: the initial loss R0 = R\(α·h\(w0\)\) is Infinity at α = 1e\+300: .*--alpha/],
  ['flow on a model with non-finite h(w0)', ['flow', nan, '--T', '1'], 1, /^ntk: error: h\(w0\) is not finite \(output 0 is -Infinity\)/],
  ['sweep --out into a missing directory', ['sweep', conv, '--alpha', '1,2', '--T', '1', '--out', join(missing, 'r.csv')], 2, /^ntk: error: --out .*: no such directory/],
  ['sweep --plot into a missing directory', ['sweep', conv, '--alpha', '1', '--T', '1', '--plot', join(missing, 'p.svg')], 2, /^ntk: error: --plot .*: no such directory/],
  ['flow --plot into a missing directory', ['flow', conv, '--T', '1', '--plot', join(missing, 'p.svg')], 2, /^ntk: error: --plot .*: no such directory/],
  ['a grid value --set m=50,0', ['sweep', grid, '--alpha', '1', '--T', '1', '--set', 'm=50,0'], 1, /grid\.ntk:1:9: error: dim 'm' must be a positive integer, got 0 \(from --set m=0\)/],
  ['--T nan', ['flow', conv, '--T', 'nan'], 2, /^ntk: error: --T nan: expected a positive number/],
  ['--T inf', ['flow', conv, '--T', 'Infinity'], 2, /^ntk: error: --T Infinity: expected a positive number/],
  ['--seed 1e20', ['check', conv, '--seed', '1e20'], 2, /^ntk: error: --seed 1e20: expected an integer ≥ 0/],
  ['--max-memory junk', ['check', conv, '--max-memory', 'lots'], 2, /^ntk: error: --max-memory lots: expected a size/],
  ['dim m = 1e9 under a budget', ['check', file('big.ntk', 'dim m = 1000000000\nparam w : [m] = 0\nmodel h = sum(w)\n'), '--max-memory', '1G'], 1, /big\.ntk:2:1: error: param 'w' : \[1000000000\].*needs 14\.9 GB, more than the --max-memory budget, 1\.0 GB/],
  ['data Z : [1e9] = 0 under a budget', ['check', file('bigz.ntk', 'param w = 1\ndata Z : [1e9] = 0\nmodel h = w * sum(Z)\n'), '--max-memory', '1G'], 1, /bigz\.ntk:2:1: error: data 'Z'/],
  ['a NUL byte in the model', ['check', file('nul.ntk', 'param w\u0000 = 1\nmodel h = w\n')], 1, /nul\.ntk:1:8: error: the file is not text: a NUL byte \(\\u0000\)/],
];

describe('user mistakes: exit code, first line, no stack trace, no partial file', () => {
  it.each(cases)('%s', async (_name, args, code, first) => {
    const before = existsSync(missing) ? readdirSync(missing) : null;
    const r = await ntk(...args);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr.split('\n')[0]).toMatch(first);
    expect(r.stderr).not.toMatch(/internal error|^\s+at .*\(.*:\d+:\d+\)/m);
    expect(existsSync(missing) ? readdirSync(missing) : null).toEqual(before);
  }, 60000);

  it('--json: an error prints one JSON object on stdout (a diagnostic here; an internal error likewise)', async () => {
    const r = await ntk('check', file('bad.ntk', 'model h = w\n'), '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).ok).toBe(false);
  });
});

describe('temporary files of atomic writes', () => {
  it('a temporary file left by a killed process is removed by the next write to the same path', async () => {
    const target = join(dir, 'sweep.csv');
    // A pid that is certainly not running: a child that has exited.
    const pid = await new Promise<number>((res) => { const c = spawn(process.execPath, ['-e', '0']); c.on('exit', () => res(c.pid!)); });
    const stale = join(dir, `.sweep.csv.${pid}.0123456789ab.tmp`);
    writeFileSync(stale, 'half a row');
    const live = join(dir, `.sweep.csv.${process.ppid}.0123456789ab.tmp`); // a running process's: kept
    writeFileSync(live, 'in progress');
    writeFileAtomic(target, 'a,b\n1,2\n');
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});
