/** `ntk lip`: JSON keys, the readable summary, exit codes. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-lip-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('ntk lip', () => {
  it('--json has radius, lipH and lipDh with lower/upper, maximizers and time', async () => {
    const r = await ntk('lip', 'examples/sin.ntk', '--radius', '0.2', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.radius).toBe(0.2);
    expect(j.lipH.lower).toBeCloseTo(Math.cos(0.1), 9);
    expect(j.lipDh.lower).toBeCloseTo(Math.sin(0.5), 9);
    expect(j.lipDh.upper).toBeGreaterThanOrEqual(j.lipDh.lower);
    expect(j.lipDh.argmax[0]).toBeCloseTo(0.5, 9);
    expect(j.lipH.converged).toBe(true);
    expect(j.time.lower).toBeGreaterThan(0);
    expect(j.time.upper).toBeGreaterThan(0);
    expect(j.time.total).toBeCloseTo(j.time.lower + j.time.upper, 6); // the two phases, measured from one clock
  });
  it('the radius may name a const, and --set applies', async () => {
    const r = await ntk('lip', 'examples/sin.ntk', '--radius', 'w0', '--set', 'w0=1', '--json');
    const j = JSON.parse(r.stdout);
    expect(j.radius).toBe(1);
    expect(j.lipDh.lower).toBeCloseTo(1, 9); // [0, 2] holds the crest π/2 of |sin|
  });
  it('non-smooth: upper null for Lip(Dh) with a note, lower still reported', async () => {
    const f = file('relu.ntk', 'param w = 0.01\nmodel h = relu(w)');
    const r = await ntk('lip', f, '--radius', '0.1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.lipDh.upper).toBeNull();
    expect(j.lipDh.note).toMatch(/kink/);
    expect(j.lipDh.lower).toBe(0);
    expect(j.lipH.lower).toBe(1);
    expect(j.lipH.upper).toBeGreaterThanOrEqual(1);
  });
  it('a readable summary', async () => {
    const r = await ntk('lip', 'examples/bilinear.ntk', '--radius', '0.5');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Lip\(h\)\s+3 ≤ · ≤/);
    expect(r.stdout).toMatch(/Lip\(Dh\)\s+2 ≤ · ≤ 2/);
  });
  it.each([['0'], ['-1'], ['nan'], ['1e300'], ['Infinity'], ['nosuchconst']])('--radius %s exits 2', async (rho) => {
    const r = await ntk('lip', 'examples/sin.ntk', '--radius', rho);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/radius/);
    expect(r.stderr).not.toMatch(/at .*\.ts:/);
  });
  it('no radius exits 2', async () => {
    const r = await ntk('lip', 'examples/sin.ntk');
    expect(r.code).toBe(2);
  });
  it('a model error exits 1, located', async () => {
    const f = file('bad.ntk', 'param w = 0\nmodel h = sin(q)');
    const r = await ntk('lip', f, '--radius', '0.1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.ntk:2:/);
  });
});

describe('ntk lip budgets', () => {
  it('--budget and --steps cut the search short, and say so', async () => {
    const r = await ntk('lip', 'examples/tanh.ntk', '--radius', '1', '--steps', '1', '--starts', '1', '--set', 'w0=0', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.lipDh.converged).toBe(false);
    expect(j.lipDh.note).toMatch(/budget/);
    expect(j.lipDh.upper).toBeGreaterThanOrEqual(j.lipDh.lower);
  });
  it('--budget must be positive', async () => {
    const r = await ntk('lip', 'examples/tanh.ntk', '--radius', '1', '--budget', '0');
    expect(r.code).toBe(2);
  });
});
