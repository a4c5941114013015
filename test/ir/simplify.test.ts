/** `tidy` (canonical form for printing) keeps every value, and the LaTeX printer. */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/ir/load.ts';
import { tidy } from '../../src/ir/simplify.ts';
import { printGraph } from '../../src/ir/print.ts';
import { deriveKernel } from '../../src/nth/hierarchy.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { Graph, lcg, randomArray, relErr, run } from '../helpers.ts';

describe('tidy', () => {
  it('merges commuted products, collects like terms and powers', () => {
    const g = new Graph();
    const x = g.input('x', 'param', []), y = g.input('y', 'param', []);
    const e = g.add(g.mul(x, y), g.mul(y, x));
    expect(printGraph(g, [['e', tidy(g, [e])[0]!]])).toBe('e = 2*x*y');
    const s = g.add(g.constant(0.1), g.mul(g.constant(2), x));
    const t = g.mul(g.mul(g.constant(2), s), g.mul(g.constant(2), s));
    expect(printGraph(g, [['t', tidy(g, [t])[0]!]])).toBe('t = 4*(0.1 + 2*x)^2');
    const u = g.sub(g.mul(g.constant(3), x), g.mul(g.constant(5), x));
    expect(printGraph(g, [['u', tidy(g, [u])[0]!]])).toBe('u = -2*x');
  });

  it('keeps the values of the kernels of a network (random weights and index vectors)', () => {
    const m = compile(
      `dim n = 3, d = 2, m = 4
data X : [n, d] = normal(0, 1, seed = 1)
param a : [m] ~ normal(0, 1)
param U : [m, d] ~ normal(0, 1)
def f(x : [d]) = sum(a * sigmoid(sqrt(m) * (U @ x))) / sqrt(m)
model h = f(X) / sqrt(n)`,
      'mf.ntk',
    );
    const ev = new Evaluator(m);
    const rand = lcg(7);
    for (const r of [2, 3, 4]) {
      const d = deriveKernel(m, r);
      const [t] = tidy(m.graph, [d.value]);
      expect(t).not.toBe(d.value);
      const extra = d.indices.map((u) => [u, randomArray(rand, 3)] as [number, Float64Array]);
      const b = ev.bindings(randomArray(rand, m.paramCount), extra);
      const [v1, v2] = run(m.graph, [d.value, t!], [...b.entries()]);
      expect(relErr(v2!, v1!)).toBeLessThan(1e-13);
    }
  });
});

describe('LaTeX printing', () => {
  it('fractions, roots, functions, transposes, subscripts and an aligned environment', () => {
    const g = new Graph();
    const w = g.input('w1', 'param', [2, 2]), x = g.input('x', 'data', [2, 2]);
    const t = g.tanh(g.matmul(w, g.swapLast(x)));
    const h = g.add(g.mul(t, t), g.div(g.pow(x, g.constant(0.5)), g.constant(3)));
    const k = g.div(t, x);
    const text = printGraph(g, [['h', h], ['k', k]], { latex: true });
    expect(text).toBe(
      '\\begin{aligned}\n' +
        't_{1} &= \\tanh\\left(w_{1} \\, x^{\\top}\\right) \\\\\n' +
        'h &= t_{1} \\, t_{1} + 0.333333333333 \\, \\sqrt{x} \\\\\n' +
        'k &= \\frac{t_{1}}{x}\n' +
        '\\end{aligned}',
    );
  });
});
