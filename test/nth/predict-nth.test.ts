/**
 * Predictions at new inputs in the truncated hierarchy (eq. 2.11): the mixed kernels
 * K^(r)(x, a2..ar) against the kernels of a model trained on the stacked inputs [X; Xt], the
 * test chain against the training chain when Xt = X, p = 2 against the linearized prediction,
 * and the error at new inputs shrinking with p.
 */
import { describe, expect, it } from 'vitest';
import { flow } from '../../src/dynamics/flow.ts';
import { crossKernelInputs, crossKernelPrediction } from '../../src/dynamics/predict.ts';
import { compile } from '../../src/ir/load.ts';
import { kernelTensor } from '../../src/nth/hierarchy.ts';
import { truncatedHierarchy } from '../../src/nth/truncated.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';

const n = 4, nt = 3, d = 2, m = 5;
const rand = lcg(7);
const X = randomArray(rand, n * d), Xt = randomArray(rand, nt * d), y = randomArray(rand, n);
const W1 = randomArray(rand, m * d, -1.5, 1.5), W2 = randomArray(rand, m * m, -1.5, 1.5), a = randomArray(rand, m, -1.5, 1.5);
const lit = (v: Float64Array, cols: number) =>
  cols === 0 ? `[${Array.from(v).join(', ')}]` : `[${Array.from({ length: v.length / cols }, (_, i) => `[${Array.from(v.subarray(i * cols, (i + 1) * cols)).join(', ')}]`).join(', ')}]`;

/** A 2-hidden-layer tanh network on rows `rows` (and test rows `test`, if any). */
const source = (rows: Float64Array, test: Float64Array | null, loss: string) => `dim d = ${d}, m = ${m}
data X : [${rows.length / d}, d] = ${lit(rows, d)}
${test ? `data Xt : [${test.length / d}, d] = ${lit(test, d)}` : ''}
param W1 : [m, d] = ${lit(W1, d)}
param W2 : [m, m] = ${lit(W2, m)}
param a : [m] = ${lit(a, 0)}
def f(x : [d]) {
  let z1 = tanh(W1 @ x) / sqrt(m)
  let z2 = tanh(W2 @ z1) / sqrt(m)
  return dot(a, z2) + 0.3 * dot(a, z1)^2
}
model h = f(X)
${loss}
${test ? 'test ht = f(Xt)' : ''}`;

const concat = (u: Float64Array, v: Float64Array) => {
  const out = new Float64Array(u.length + v.length);
  out.set(u);
  out.set(v, u.length);
  return out;
};
const square = `data y : [${n}] = ${lit(y, 0)}\nloss square(target = y)`;
const general = `data y : [${n}] = ${lit(y, 0)}\nloss R(v) = sum((v - y)^2) / 2 + sum(v^4) / 10`;

describe('mixed kernels K^(r)(x, a2..ar) (first index a test output)', () => {
  it('equal the kernels of the stacked model f([X; Xt]) with the first index in the Xt block', () => {
    const model = compile(source(X, Xt, square), 'mixed.ntk');
    const stacked = compile(source(concat(X, Xt), null, ''), 'stacked.ntk');
    const ev = new Evaluator(model), evS = new Evaluator(stacked);
    expect(Array.from(stacked.w0)).toEqual(Array.from(model.w0));
    const N = n + nt;
    for (const r of [2, 3, 4]) {
      const full = kernelTensor(evS, r, { structure: 'dense' }).data;
      // The block a1 ∈ {n..N−1}, a2..ar ∈ {0..n−1} of the stacked kernel.
      const want = new Float64Array(nt * n ** (r - 1));
      for (let t = 0; t < want.length; t++) {
        let rest = t, idx = 0, mul = 1;
        for (let j = r - 1; j >= 1; j--) {
          idx += (rest % n) * mul;
          rest = Math.floor(rest / n);
          mul *= N;
        }
        idx += (n + rest) * mul;
        want[t] = full[idx]!;
      }
      for (const structure of ['rows', 'dense'] as const) {
        const got = kernelTensor(ev, r, { firstIndex: 'test', structure });
        expect(got.shape).toEqual([nt, ...Array(r - 1).fill(n)]);
        expect(relErr(got.data, want)).toBeLessThan(1e-12);
      }
      // A slice fixes the test output first.
      if (r >= 3) {
        const s = kernelTensor(ev, r, { firstIndex: 'test', slice: [2, 1] }).data;
        const inner = n ** (r - 2);
        expect(relErr(s, want.subarray((2 * n + 1) * inner, (2 * n + 2) * inner))).toBeLessThan(1e-12);
      }
    }
  });

  it('with the test inputs equal to the training inputs, equal K^(r)', () => {
    const ev = new Evaluator(compile(source(X, X, square), 'same.ntk'));
    for (const r of [2, 3, 4]) expect(relErr(kernelTensor(ev, r, { firstIndex: 'test' }).data, kernelTensor(ev, r).data)).toBeLessThan(1e-13);
  });

  it('refuses a test slice index out of range, and a model without test outputs', () => {
    const ev = new Evaluator(compile(source(X, Xt, square), 'mixed.ntk'));
    expect(() => kernelTensor(ev, 3, { firstIndex: 'test', slice: [nt] })).toThrow(/not a test output index in 0\.\.2/);
    const plain = new Evaluator(compile(source(X, null, square), 'plain.ntk'));
    expect(() => kernelTensor(plain, 3, { firstIndex: 'test' })).toThrow(/declares no test outputs/);
  });
});

describe('truncated hierarchy at new inputs (eq. 2.11)', () => {
  it('with Xt = X the test quantities are the training ones, for every p and a general loss', () => {
    const ev = new Evaluator(compile(source(X, X, general), 'same.ntk'));
    for (const p of [2, 3, 4]) {
      const r = truncatedHierarchy(ev, p, { alpha: 2, T: 0.8, rtol: 1e-11 });
      expect(relErr(r.testOut!, r.out)).toBeLessThan(1e-10);
      expect(relErr(r.trueTestOut!, r.trueOut!)).toBeLessThan(1e-12);
      expect(Math.abs(r.testError! - r.error!)).toBeLessThan(1e-10 * (1 + r.error!));
    }
  });

  it('p = 2 is the linearized prediction α(g(w0) + Dg(w0)(w̄(T) − w0)), closed form and the flow', () => {
    const model = compile(source(X, Xt, square), 'mixed.ntk');
    const ev = new Evaluator(model);
    for (const [alpha, T] of [[1, 0.5], [4, 3]] as const) {
      const r = truncatedHierarchy(ev, 2, { alpha, T, rtol: 1e-12 });
      // eq. 19 in kernel form (eigendecomposition + Cholesky), independent of any ODE.
      const closed = crossKernelPrediction(crossKernelInputs(ev, alpha), T);
      expect(relErr(r.testOut!, closed)).toBeLessThan(1e-9);
      // the flow's linearized test prediction (weight space, one JVP), and its true test outputs.
      const f = flow(model, { alpha, T, rtol: 1e-12, accuracy: false }).test!;
      expect(relErr(r.testOut!, f.linOut)).toBeLessThan(1e-8);
      expect(relErr(r.trueTestOut!, f.out)).toBeLessThan(1e-7);
    }
  });

  it('the error at new inputs shrinks with p and is O(t^p) at small t (general loss)', () => {
    const ev = new Evaluator(compile(source(X, Xt, general), 'mixed.ntk'));
    const err = (p: number, T: number) => truncatedHierarchy(ev, p, { T, rtol: 1e-13 }).testError!;
    const T = 0.2;
    const e = [2, 3, 4].map((p) => [err(p, T), err(p, T / 2)] as const);
    expect(e[0]![1]).toBeGreaterThan(e[1]![1]);
    expect(e[1]![1]).toBeGreaterThan(e[2]![1]);
    e.forEach(([big, small], i) => expect(Math.abs(Math.log2(big / small) - (i + 2))).toBeLessThan(0.35));
  });

  it('without a test declaration the test fields are null', () => {
    const r = truncatedHierarchy(new Evaluator(compile(source(X, null, square), 'plain.ntk')), 3, { T: 0.1 });
    expect(r.testOut).toBeNull();
    expect(r.trueTestOut).toBeNull();
    expect(r.testError).toBeNull();
  });
});
