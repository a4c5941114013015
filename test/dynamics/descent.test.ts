/** Gradient descent: the linearized iteration in closed form, and convergence to the flow as η → 0. */
import { describe, expect, it } from 'vitest';
import { compile, jacobian, evaluate } from '../../src/index.ts';
import { gradientDescent } from '../../src/dynamics/descent.ts';
import { flow } from '../../src/dynamics/flow.ts';

const net = compile(
  'dim n = 5, d = 2, m = 8\ndata X : [n, d] = normal(0, 1, seed = 1)\ndata y : [n] = normal(0, 1, seed = 2)\n' +
    'param U : [m, d] ~ normal(0, 1)\nparam a : [m] ~ normal(0, 1)\n' +
    'def f(x : [d]) = dot(a, tanh(U @ x)) / sqrt(m)\nmodel h = f(X)\nloss square(target = y)',
  'net.ntk',
);

describe('gradient descent', () => {
  it('the linearized iterate equals the linear recursion run step by step', () => {
    const alpha = 2, lr = 0.05, steps = 40;
    const r = gradientDescent(net, { alpha, lr, steps });
    const J = jacobian(net).data, k = 5, p = net.paramCount;
    const h0 = evaluate(net);
    const y = net.data.find((q) => q.name === 'y')!.value;
    const dw = new Float64Array(p);
    for (let j = 0; j < steps; j++) {
      const rb = Array.from({ length: k }, (_, i) => {
        let s = h0[i]!;
        for (let c = 0; c < p; c++) s += J[i * p + c]! * dw[c]!;
        return y[i]! - alpha * s;
      });
      for (let c = 0; c < p; c++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += J[i * p + c]! * rb[i]!;
        dw[c] += (lr / alpha) * s;
      }
    }
    const linOut = Array.from({ length: k }, (_, i) => {
      let s = h0[i]!;
      for (let c = 0; c < p; c++) s += J[i * p + c]! * dw[c]!;
      return alpha * s;
    });
    for (let i = 0; i < k; i++) expect(r.linOut[i]).toBeCloseTo(linOut[i]!, 12);
    expect(r.linWeightChange).toBeCloseTo(Math.hypot(...dw), 12);
  });

  it('tends to the gradient flow as η → 0, at first order in η', () => {
    const alpha = 1, T = 2;
    const ref = flow(net, { alpha, T, accuracy: false });
    const errs = [0.02, 0.01, 0.005].map((lr) => {
      const d = gradientDescent(net, { alpha, lr, steps: Math.round(T / lr) });
      return Math.max(...Array.from(d.out, (x, i) => Math.abs(x - ref.out[i]!)));
    });
    // halving η halves the distance to the flow
    expect(errs[0]! / errs[1]!).toBeGreaterThan(1.7);
    expect(errs[0]! / errs[1]!).toBeLessThan(2.3);
    expect(errs[1]! / errs[2]!).toBeGreaterThan(1.7);
    expect(errs[2]!).toBeLessThan(0.05 * Math.max(...Array.from(ref.out, Math.abs)));
  });

  it('warns when the linearized iteration diverges, and stops on non-finite weights', () => {
    const big = gradientDescent(net, { alpha: 1, lr: 50, steps: 3 });
    expect(big.warnings.join()).toMatch(/diverges/);
    expect(() => gradientDescent(net, { alpha: 1, lr: 1e200, steps: 5 })).toThrow(/non-finite weight at step \d/);
  });
});
