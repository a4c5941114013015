/**
 * mathjs as an independent symbolic oracle: on scalar models (one weight, one output) the
 * graph's derivatives d^k h/dw^k, k = 1..4 (nested JVPs of the registry's rules, evaluated by the
 * runtime) against mathjs's symbolic `derivative` of the same formula written out by hand (not
 * from the graph), evaluated at the same point. Plus the closed forms `ntk print --derivative`
 * shows: the graph written as mathjs text (`mathjsText`) and simplified gives back h and dh/dw.
 */
import { describe, expect, it } from 'vitest';
import { derivative, evaluate, type MathNode } from 'mathjs';
import { jvp } from '../../src/ad/jvp.ts';
import { compile, loadModel, type Model } from '../../src/index.ts';
import { closedForm, isScalarModel, mathjsText } from '../../src/symbolic/closed-form.ts';
import { run } from '../helpers.ts';

/** [the .ntk expression of h(w), the same function in mathjs's syntax, written independently]. */
const CASES: [string, string][] = [
  ['sin(tanh(w))', 'sin(tanh(w))'],
  ['exp(sin(w)) * atan(w)', 'exp(sin(w)) * atan(w)'],
  ['softplus(atan(2 * w))', 'log(1 + exp(atan(2 * w)))'],
  ['tanh(exp(w) - softplus(w))', 'tanh(exp(w) - log(1 + exp(w)))'],
  ['atan(sin(w) * tanh(w)) + w^3 / 6', 'atan(sin(w) * tanh(w)) + w^3 / 6'],
  ['sigmoid(3 * w) * exp(-w^2)', 'exp(-w^2) / (1 + exp(-3 * w))'],
  ['softplus(-w) / (1 + atan(w)^2)', 'log(1 + exp(-w)) / (1 + atan(w)^2)'],
];
const POINTS = [0.3, -0.7, 1.9];

/** d^k h/dw^k at w for k = 0..4, by the graph (nested JVPs along the unit tangent). */
function graphDerivatives(m: Model, w: number): number[] {
  const g = m.graph, wNode = m.params[0]!.node;
  const nodes = [m.output];
  for (let k = 1; k <= 4; k++) nodes.push(jvp(g, [nodes[k - 1]!], new Map([[wNode, g.constant(1)]]))[0]!);
  const bind: [number, Float64Array][] = [[wNode, Float64Array.of(w)], ...m.data.map((d) => [d.node, d.value] as [number, Float64Array])];
  return run(g, nodes, bind).map((v) => v[0]!);
}

/** The same by mathjs: symbolic derivatives of the hand-written formula, evaluated. */
function mathjsDerivatives(expr: string, w: number, scope: Record<string, number> = {}): number[] {
  const out: number[] = [];
  let e: MathNode | string = expr;
  for (let k = 0; k <= 4; k++) {
    out.push(typeof e === 'string' ? evaluate(e, { ...scope, w }) : e.evaluate({ ...scope, w }));
    e = derivative(e, 'w', { simplify: false }); // unsimplified: simplify grows slow on the larger terms
  }
  return out;
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-11 * Math.max(1, Math.abs(b));

describe('the graph\'s derivatives against mathjs, to order 4', () => {
  it.each(CASES)('h = %s', (ntk, mjs) => {
    const m = compile(`param w = 0.5\nmodel h = ${ntk}`, 'oracle.ntk');
    for (const w of POINTS) {
      const ours = graphDerivatives(m, w), theirs = mathjsDerivatives(mjs, w);
      ours.forEach((v, k) => expect(close(v, theirs[k]!), `d^${k}h/dw^${k} at w = ${w}: ${v} vs mathjs ${theirs[k]}`).toBe(true));
    }
  });

  it('the converse toy (examples/converse.ntk): h = w/√T + b·w²/2', () => {
    const m = loadModel('examples/converse.ntk');
    for (const w of POINTS) {
      const ours = graphDerivatives(m, w), theirs = mathjsDerivatives('w / sqrt(T) + b * w^2 / 2', w, { T: 100, b: 2 });
      ours.forEach((v, k) => expect(close(v, theirs[k]!), `order ${k} at ${w}`).toBe(true));
    }
  });
});

describe('closed forms of scalar models', () => {
  it.each(CASES)('h = %s: the simplified text gives back h and dh/dw', async (ntk) => {
    const m = compile(`param w = 0.5\nmodel h = ${ntk}`, 'oracle.ntk');
    expect(isScalarModel(m)).toBe(true);
    const g = m.graph, wNode = m.params[0]!.node;
    const [dh] = jvp(g, [m.output], new Map([[wNode, g.constant(1)]]));
    const forms = [await closedForm(g, m.output), await closedForm(g, dh!)];
    for (const w of POINTS) {
      const want = graphDerivatives(m, w);
      forms.forEach((f, k) => expect(close(evaluate(f!.text, { w }), want[k]!), `${f!.text} at ${w}`).toBe(true));
    }
    expect(forms[0]!.latex.length).toBeGreaterThan(0);
  });

  it('a vector model has none', () => {
    const m = compile('param w : [2] = [0.1, 0.2]\nmodel h = sum(sin(w))', 'v.ntk');
    expect(isScalarModel(m)).toBe(false);
    expect(mathjsText(m.graph, m.params[0]!.node)).toBeNull();
  });
});
