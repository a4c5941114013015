/**
 * Hostile input, the leftovers of issue 21: each refusal is an exit-1 error with a clear message
 * (never exit 3, an internal error), and what a refusal suggests is accepted when tried.
 *  a. `ntk sweep` on a model without a loss, and a point failing on a worker thread;
 *  b. the slice a kernel's refusal suggests is one that then runs (result and working set);
 *  c. `ntk print` of a graph thousands of ops deep (no recursion along the depth);
 *  d. a graph too large for the memory budget is refused while being built, naming its size,
 *     instead of growing until V8's heap runs out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ntk } from './run-cli.ts';
import { parseModel } from '../../src/index.ts';
import { GraphSizeError, graphNodeLimit, GRAPH_BYTES_PER_NODE } from '../../src/ir/graph.ts';
import { setMemoryBudget } from '../../src/io/memory.ts';
import { printGraph } from '../../src/ir/print.ts';

const dir = mkdtempSync(join(tmpdir(), 'ntk-hostile-'));
const file = (name: string, src: string) => { const f = join(dir, name); writeFileSync(f, src); return f; };
const noLoss = file('noloss.ntk', 'param w = 0.3\nmodel h = sin(w)\n');
// h(w0) = log(c): finite at c = 1 and 2, -Infinity at c = 0 (the second grid point)
const cGrid = file('cgrid.ntk', 'const c = 1\nparam w = 0\nmodel h = log(c) + w\nloss square(target = 1)\n');
const built = existsSync('dist/ntk.cjs');
const bin = (args: string[]) => spawnSync(process.execPath, ['bin/ntk.js', ...args], { encoding: 'utf8', timeout: 120_000 });

afterAll(() => {
  setMemoryBudget(null);
  rmSync(dir, { recursive: true, force: true });
});

const noInternal = (stderr: string) => expect(stderr).not.toMatch(/internal error|^\s+at .*:\d+:\d+\)?$/m);

describe('a. sweep', () => {
  it('on a model without a loss: exit 1 naming the file, before any point', async () => {
    const r = await ntk('sweep', noLoss, '--alpha', '1,2', '--T', '1');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe(`ntk: error: ${noLoss}: the flow needs a loss: declare 'loss square(target = …)' or 'loss R(v) = …'\n`);
  });

  it.skipIf(!built)('from the bundle, with worker threads: the same, and a point failing on a worker stays an exit-1 error', () => {
    const r = bin(['sweep', noLoss, '--alpha', '1,2', '--T', '1', '--workers', '2']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ntk: error: .*noloss\.ntk: the flow needs a loss/);
    const w = bin(['sweep', cGrid, '--alpha', '1', '--T', '1', '--set', 'c=1,0,2', '--workers', '2']);
    expect(w.status, w.stderr).toBe(1);
    expect(w.stderr).toMatch(/^ntk: error: at α = 1, T = 1, \{"c":0\}: h\(w0\) is not finite \(output 0 is -Infinity\)/);
    noInternal(w.stderr);
  });
});

describe('b. the slice a kernel refusal suggests is accepted', () => {
  // K^(4) of a 64-output MLP under 20 MB: the result alone would allow --slice 0 (64³ values,
  // 2 MB), but one block of that slice needs ~22 MB of buffers; the suggestion takes both into account.
  const base = ['kernel', 'examples/mlp-tanh.ntk', '--order', '4', '--set', 'n=64', '--set', 'm=32', '--max-memory', '20M'];
  /** The last `--slice N,…` of a message: the one it suggests. */
  const suggested = (stderr: string) => [...stderr.matchAll(/--slice ([\d,]+)/g)].at(-1)?.[1];

  it('the full tensor is refused with a slice that then runs', async () => {
    const r = await ntk(...base);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ntk: error: K\^\(4\) has 64\^4 = .*compute slices instead: .* e\.g\. --slice 0,0\n$/);
    const slice = suggested(r.stderr)!;
    const ok = await ntk(...base, '--slice', slice, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).K).toHaveLength(64);
  }, 120_000);

  it('a slice whose block does not fit is refused with one that does', async () => {
    const r = await ntk(...base, '--slice', '0');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ntk: error: one block of K\^\(4\) needs .* of buffers, more than the .* left; fix more leading indices: --slice 0,0 \(2 of them\) fits\n$/);
    const ok = await ntk(...base, '--slice', suggested(r.stderr)!, '--json');
    expect(ok.code, ok.stderr).toBe(0);
  }, 120_000);

  it('a slice whose graph is too large to probe quickly is suggested on its result alone, saying so (K^(12): in seconds, not minutes)', async () => {
    const r = await ntk('kernel', 'examples/deep.ntk', '--order', '12');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/e\.g\. --slice 0,0,0 \(its graph is too large to check here whether computing it fits too\)\n$/);
  }, 120_000);

  it('when no slice can fit, it says so instead of suggesting one', async () => {
    const r = await ntk(...base.slice(0, -1), '2M');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/even one slice K\^\(4\)\(a1\.\.a3, ·\) is too large to compute .*raise --max-memory/);
    expect(r.stderr).not.toMatch(/e\.g\. --slice/);
  }, 120_000);
});

describe('c. print of a deep graph', () => {
  const deep = file('deep3000.ntk', 'dim L = 3000\nparam w = 0.5\ndef f(x) {\n  let z = x\n  for l in 0 .. L { z = sin(z) }\n  return z\n}\nmodel h = f(w)\n');

  it('prints a chain of 3000 ops (it overflowed the stack), as text and LaTeX, with its derivative', async () => {
    const r = await ntk('print', deep);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`h = ${'sin('.repeat(3000)}w${')'.repeat(3000)}`);
    const m = parseModel(readFileSync(deep, 'utf8'));
    expect(printGraph(m.graph, [['h', m.output]], { latex: true }).match(/\\sin/g) ?? []).toHaveLength(3000);
    const d = await ntk('print', deep, '--derivative');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^dh = /m);
  }, 60_000);

  it('still names shared subexpressions as before', () => {
    const m = parseModel('param w = 0.5\nmodel h = [sin(w^2 + w^3 + w^4), cos(w^2 + w^3 + w^4)]');
    expect(printGraph(m.graph, [['h', m.output]])).toMatch(/^t1 = w\^2 \+ w\^3 \+ w\^4\nh = .*sin\(t1\).*cos\(t1\)/);
  });
});

describe('d. a graph-size budget', () => {
  it('the graph refuses to grow past the budget (GRAPH_BYTES_PER_NODE a node)', () => {
    setMemoryBudget(4 * 1024 ** 2);
    try {
      expect(graphNodeLimit()).toBe(Math.floor((4 * 1024 ** 2) / GRAPH_BYTES_PER_NODE));
      const m = parseModel('param w = 0.5\nmodel h = w');
      const g = m.graph;
      let x = m.output;
      const grow = () => { for (let i = 0; i < 10_000; i++) x = g.node('sin', [x]); };
      expect(grow).toThrow(GraphSizeError);
      expect(grow).toThrow(/reached \d+ nodes, about 4\.0 MB of JavaScript heap at 1 kB a node: the most that the --max-memory budget, 4\.0 MB, allows/);
    } finally {
      setMemoryBudget(null);
    }
  });

  it('K^(10) of deep.ntk with a 7-index slice is refused while its graph is built, with the size and what to try', async () => {
    const r = await ntk('kernel', 'examples/deep.ntk', '--order', '10', '--slice', '0,0,0,0,0,0,0', '--max-memory', '8M');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^ntk: error: building K\^\(10\) with 3 free indices: the graph of this computation reached \d+ nodes, about .* the most that the --max-memory budget, 8\.0 MB, allows; .*(--slice|raise --max-memory)/);
    noInternal(r.stderr);
  }, 120_000);
});
