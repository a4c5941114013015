/**
 * Elaboration of `test NAME = expr[, target = expr]`: the model's outputs on held-out inputs,
 * built like the model's expression (defs map over leading axes), and every error a user can
 * make with it, each located file:line:col.
 */
import { describe, expect, it } from 'vitest';
import { compile, loadModel, NtkError, Evaluator } from '../../src/index.ts';
import { relErr } from '../helpers.ts';

/** The first diagnostic of a failing compile, as `file:line:col: message`. */
function errorOf(source: string): string {
  try {
    compile(source, 'held.ntk');
  } catch (e) {
    if (e instanceof NtkError) {
      const d = e.diagnostics[0]!;
      return d.span ? `${d.file}:${d.span.line}:${d.span.col}: ${d.message}` : `${d.file}: ${d.message}`;
    }
    throw e;
  }
  throw new Error('expected an error');
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('the test declaration', () => {
  it('examples/meanfield-test.ntk: g(w0) = f(x)/√n on each held-out row, by hand', () => {
    const m = loadModel('examples/meanfield-test.ntk');
    expect(m.test).not.toBeNull();
    const t = m.test!;
    expect(t.name).toBe('ht');
    expect(t.shape).toEqual([8]);
    expect(m.graph.shape(t.output)).toEqual([8]);
    expect(t.nonSmooth).toBe(false);
    const ev = new Evaluator(m);
    expect(ev.kt).toBe(8);
    const g0 = ev.testOutput(m.w0);
    // f(x) = Σ_i a_i σ(√m ⟨u_i, x⟩) / √m, computed here from w0 and the data, not the graph.
    const n = 16, d = 3, M = 64;
    const a = m.w0.subarray(0, M), U = m.w0.subarray(M, M + M * d);
    const Xt = m.data.find((q) => q.name === 'Xt')!.value;
    const yt = m.data.find((q) => q.name === 'yt')!.value;
    const byHand = new Float64Array(8);
    for (let r = 0; r < 8; r++) {
      let s = 0;
      for (let i = 0; i < M; i++) {
        let z = 0;
        for (let c = 0; c < d; c++) z += U[i * d + c]! * Xt[r * d + c]!;
        s += a[i]! * sigmoid(Math.sqrt(M) * z);
      }
      byHand[r] = s / Math.sqrt(M) / Math.sqrt(n);
    }
    expect(relErr(g0, byHand)).toBeLessThan(1e-14);
    expect(Array.from(ev.testTarget()!)).toEqual(Array.from(yt, (v) => v / Math.sqrt(n)));
  });

  it('on the training inputs the test outputs are the model: same values, same Jacobian', () => {
    const src = `dim n = 5, d = 2, m = 7, H = 2
data X : [n, d] = normal(0, 1, seed = 3)
param W1 : [m, d] ~ normal(0, 1)
param W : [H, m, m] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z = tanh(W1 @ x) / sqrt(m)
  for l in 0 .. H { z = tanh(W[l] @ z) / sqrt(m) }
  return dot(a, z)
}
model h = f(X)
test g = f(X)`;
    const m = compile(src, 'same.ntk');
    const ev = new Evaluator(m);
    expect(Array.from(ev.testOutput(m.w0))).toEqual(Array.from(ev.output(m.w0)));
    expect(relErr(ev.testJacobian(m.w0), ev.jacobian(m.w0))).toBeLessThan(1e-15);
    expect(ev.testTarget()).toBeNull();
  });

  it('a matrix of test outputs is flattened row-major; a scalar target broadcasts', () => {
    const m = compile('param w : [2] = [1, 2]\ndata Z : [3, 2] = [[1, 0], [0, 1], [1, 1]]\nmodel h = w\ntest g = Z * w, target = 1', 't.ntk');
    const ev = new Evaluator(m);
    expect(m.test!.shape).toEqual([3, 2]);
    expect(Array.from(ev.testOutput(m.w0))).toEqual([1, 0, 0, 2, 1, 2]);
    expect(Array.from(ev.testTarget()!)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('may come before the model, and a model without one has test = null', () => {
    const m = compile('param w = 2\ntest g = w^2\nmodel h = w', 't.ntk');
    expect(Array.from(new Evaluator(m).testOutput(m.w0))).toEqual([4]);
    const none = compile('param w = 2\nmodel h = w', 't.ntk');
    expect(none.test).toBeNull();
    expect(() => new Evaluator(none).testOutput(none.w0)).toThrow(/declares no test outputs/);
  });

  it('non-smooth test outputs are flagged on their own', () => {
    const m = compile('param w = 2\nmodel h = w\ntest g = relu(w)', 't.ntk');
    expect(m.nonSmooth).toBe(false);
    expect(m.test!.nonSmooth).toBe(true);
  });
});

describe('errors in a test declaration, located', () => {
  it.each([
    ['a second test declaration', 'param w = 0\nmodel h = w\ntest g = w\ntest g2 = 2 * w',
      "held.ntk:4:1: a second test declaration 'g2': a file declares at most one (the first is 'g' at line 3)"],
    ['a constant', 'param w = 0\nmodel h = w\ntest g = 3', "held.ntk:3:10: the test outputs 'g' are a constant: they must depend on a parameter"],
    ['no parameter', 'param w = 0\ndata Z : [2] = [1, 2]\nmodel h = w\ntest g = Z * 2',
      "held.ntk:4:10: the test outputs 'g' do not depend on any parameter"],
    ['the model', 'param w = 0\nmodel h = w\ntest g = 2 * h', "held.ntk:3:14: 'h' cannot be used in an expression (it is the model)"],
    ["the loss's name", 'param w = 0\nmodel h = w\nloss R(v) = v^2\ntest g = R + w', "held.ntk:4:10: 'R' is the loss: it cannot be used in an expression"],
    ["the loss's variable", 'param w = 0\nmodel h = w\nloss R(v) = v^2\ntest g = v * w', "held.ntk:4:10: unknown name 'v'"],
    ['the test in the model', 'param w = 0\ntest g = w\nmodel h = g', "held.ntk:3:11: 'g' cannot be used in an expression (it names the test outputs)"],
    ['a name already declared', 'param w = 0\nmodel h = w\ntest w = 2 * w', "held.ntk:3:6: 'w' is already declared (as a param at line 1)"],
    ['the model name', 'param w = 0\nmodel h = w\ntest h = 2 * w', "held.ntk:3:6: 'h' is already declared (as a model at line 2)"],
    ['a shape error inside', 'dim d = 3\nparam u : [d] = 1\ndata Xt : [4, 2] = 0\ndef f(x : [d]) = dot(u, x)\nmodel h = f(u)\ntest g = f(Xt)',
      "held.ntk:6:12: argument 1 of f has shape [4, 2], but 'x' is declared [3]"],
    ['a target of the wrong shape', 'param w : [2] = 0\nmodel h = w\ntest g = 2 * w, target = [1, 2, 3]',
      "held.ntk:3:26: the test target has shape [3] but the test outputs 'g' have shape [2]"],
    ['a target that depends on the weights', 'param w : [2] = 0\nmodel h = w\ntest g = 2 * w, target = w',
      'held.ntk:3:26: the test target must not depend on the parameters'],
    ['an unknown name, with a hint', 'param w = 0\ndata Xt = 1\nmodel h = w\ntest g = w * Xs', "held.ntk:4:14: unknown name 'Xs'"],
  ])('%s', (_, src, expected) => {
    expect(errorOf(src)).toBe(expected);
  });
});
