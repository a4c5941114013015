/**
 * LaTeX as a paper would write it (issue 21): no reshapes, constants computed from named consts
 * and dims printed as what they came from (1/√T, √m, b), composites as written (σ). The plain
 * text, which `--json` also prints, keeps its numbers.
 */
import { describe, expect, it } from 'vitest';
import { compile, describeKernel, loadModel, printModel, type Model } from '../../src/index.ts';
import { printGraph } from '../../src/ir/print.ts';
import { provenanceValue } from '../../src/ir/symbols.ts';

/** Every constant of the graph that has a provenance: the monomial evaluated at the model's consts equals its value. */
function checkProvenance(m: Model): number {
  let count = 0;
  for (let n = 0; n < m.graph.size; n++) {
    const a = m.graph.attrs(n);
    if (m.graph.op(n) !== 'const' || !a.sym) continue;
    count++;
    const v = provenanceValue(a.sym, m.constants);
    expect(Math.abs(v - a.value!), `${JSON.stringify(a.sym)} = ${v} against ${a.value}`).toBeLessThanOrEqual(1e-13 * Math.abs(a.value!));
  }
  return count;
}

describe('derive --latex as written', () => {
  it('the converse toy: 1/√T and b, not 0.1 and 2; the plain text unchanged', () => {
    const m = loadModel('examples/converse.ntk');
    const tex = describeKernel(m, 2, { latex: true }).text;
    expect(tex).toContain('\\frac{1}{\\sqrt{T}}');
    expect(tex).toMatch(/b \\, w/);
    expect(tex).not.toMatch(/0\.1/);
    expect(describeKernel(m, 3).text).toBe('K3 = 4*(0.1 + 2*w)^2');
    expect(printModel(m)).toBe('h = 0.1*w + w^2');
    expect(checkProvenance(m)).toBeGreaterThan(0);
  });

  it('the mean-field network: no reshape, σ(√m ·) as written, 1/(√m √n) instead of 0.03125', () => {
    const m = loadModel('examples/meanfield.ntk');
    const tex = describeKernel(m, 2, { latex: true }).text;
    expect(tex).not.toMatch(/reshape/);
    expect(tex).toMatch(/\\sigma\\left\(\\sqrt\{m\} \\, /);
    expect(tex).not.toMatch(/0\.03125|0\.0625/);
    expect(tex).toMatch(/\\sqrt\{n\}/);
    expect(checkProvenance(m)).toBeGreaterThan(0);
    // the plain text keeps the numbers (and its reshapes)
    expect(describeKernel(m, 2).text).toMatch(/0\.03125/);
  });

  it('σ of a plain argument, and a constant not from named consts stays a number', () => {
    const m = compile('param w : [2] = [0.1, 0.2]\nmodel h = sum(0.3 * sigmoid(w))', 'sig.ntk');
    const tex = printGraph(m.graph, [['h', m.output]], { latex: true });
    expect(tex).toContain('\\sigma\\left(w\\right)');
    expect(tex).toContain('0.3');
    const m2 = compile('const c = 3\nparam w : [2] = [0.1, 0.2]\nmodel h = sum(sigmoid(c * w) / c^2)', 'sig2.ntk');
    const tex2 = printGraph(m2.graph, [['h', m2.output]], { latex: true });
    expect(tex2).toContain('\\sigma\\left(c \\, w\\right)');
    expect(tex2).toContain('\\frac{1}{c^{2}}');
    expect(checkProvenance(m2)).toBeGreaterThan(0);
  });

  it('named consts through the examples: every provenance evaluates to its constant', () => {
    for (const f of ['mlp-tanh', 'deep', 'limit-mlp', 'meanfield-test', 'early-erf']) checkProvenance(loadModel(`examples/${f}.ntk`));
  });
});
