/** The truncated hierarchy: p = 2 is the closed-form linearized flow; the error is O(t^p). */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/ir/load.ts';
import { symmetricEigen } from '../../src/linalg/dense.ts';
import { truncatedHierarchy } from '../../src/nth/truncated.ts';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { relErr } from '../helpers.ts';

const net = (loss: string) =>
  compile(
    `dim n = 3, d = 2, m = 6
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = normal(0, 1, seed = 2)
param W1 : [m, d] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = tanh(W1 @ x) / sqrt(m)
  let z2 = tanh(W2 @ z1) / sqrt(m)
  return dot(a, z2)
}
model h = f(X)
${loss}`,
    'net.ntk',
  );

describe('truncated hierarchy', () => {
  it('p = 2 is the linearized flow v(T) = y* + exp(−K0·T)(v0 − y*), for any α', () => {
    const m = net('loss square(target = y)');
    const ev = new Evaluator(m);
    const k = ev.k;
    const K0 = ntkFromJacobian(ev, ev.jacobian(m.w0));
    const { values, vectors: V } = symmetricEigen(K0, k);
    const ystar = ev.target()!;
    for (const [alpha, T] of [[1, 0.7], [3, 2.5]] as const) {
      const v0 = ev.output(m.w0).map((x) => alpha * x);
      const r0 = v0.map((x, i) => x - ystar[i]!);
      const want = new Float64Array(k);
      for (let i = 0; i < k; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) {
          let q = 0;
          for (let l = 0; l < k; l++) q += V[l * k + j]! * r0[l]!;
          s += V[i * k + j]! * Math.exp(-values[j]! * T) * q;
        }
        want[i] = ystar[i]! + s;
      }
      const r = truncatedHierarchy(ev, 2, { alpha, T, rtol: 1e-12, trueFlow: false });
      expect(relErr(r.out, want)).toBeLessThan(1e-9);
      expect(Array.from(r.K2)).toEqual(Array.from(K0));
    }
  });

  it('the error against the true flow shrinks with p and is O(t^p) at small t (general loss)', () => {
    const m = net('loss R(v) = sum((v - y)^2) / (2 * n) + sum(v^4) / 10');
    const ev = new Evaluator(m);
    const err = (p: number, T: number) => truncatedHierarchy(ev, p, { T, rtol: 1e-13 }).error!;
    const T = 0.2;
    const e = [2, 3, 4].map((p) => [err(p, T), err(p, T / 2)] as const);
    expect(e[0]![1]).toBeGreaterThan(e[1]![1]);
    expect(e[1]![1]).toBeGreaterThan(e[2]![1]);
    e.forEach(([big, small], i) => {
      const slope = Math.log2(big / small);
      expect(Math.abs(slope - (i + 2))).toBeLessThan(0.35);
    });
  });
});
