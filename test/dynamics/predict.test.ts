/**
 * Predictions at held-out inputs (seed 003 eq. 19): the route a flow takes (the linearized
 * weights w̄(t) − w0 = (1/α) J0ᵀ c(t) pushed through Dg(w0) by one JVP) against the kernel form
 * α g0 + Θ̂0(x, X) K0⁻¹ (I − exp(−K0 t)) r0 (cross kernel, Cholesky solve), and limiting cases.
 */
import { describe, expect, it } from 'vitest';
import { compile, Evaluator, kernelSpectrum, LinearizedFlow } from '../../src/index.ts';
import {
  crossKernelInputs,
  crossKernelPrediction,
  linearizedTestPrediction,
  linearizedTestPredictor,
} from '../../src/dynamics/predict.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';

// k = 6 training outputs, p = 160 weights: K0 = J0 J0ᵀ is well conditioned.
const source = `dim n = 6, d = 3, m = 40, nt = 5
data X : [n, d] = normal(0, 1, seed = 11)
data y : [n] = normal(0, 1, seed = 12)
data Xt : [nt, d] = normal(0, 1, seed = 13)
param a : [m] ~ normal(0, 1)
param U : [m, d] ~ normal(0, 1)
def f(x : [d]) = dot(a, tanh(U @ x)) / sqrt(m)
model h = f(X)
loss square(target = y)
test g = f(Xt)
`;
const model = compile(source, 'predict.ntk');
const ev = new Evaluator(model);
const { k, p } = ev;

/** The flow's weight change w̄(t) − w0 = (1/α) J0ᵀ c(t), c(t) = V φ_t(Λ) Vᵀ r0 (linearized.ts). */
function linShift(e: Evaluator, alpha: number, t: number): Float64Array {
  const inp = crossKernelInputs(e, alpha);
  const lin = new LinearizedFlow(kernelSpectrum(inp.K0, e.k), inp.r0);
  return e.vjp(e.model.w0, lin.integral(t)).map((x) => x / alpha);
}

describe('eq. 19: the JVP route and the cross-kernel route agree', () => {
  it('K0 is well conditioned here (so that 1e-10 is a meaningful tolerance)', () => {
    const { values } = kernelSpectrum(crossKernelInputs(ev, 1).K0, k);
    expect(values[k - 1]! / values[0]!).toBeLessThan(1e3);
  });

  for (const alpha of [1, 10])
    it(`α = ${alpha}, t from 0.01 to 1000`, () => {
      const inp = crossKernelInputs(ev, alpha);
      for (const t of [0.01, 0.3, 1, 10, 1000]) {
        const viaJvp = linearizedTestPrediction(ev, linShift(ev, alpha, t)).map((x) => alpha * x);
        const viaKernel = crossKernelPrediction(inp, t);
        expect(relErr(viaJvp, viaKernel)).toBeLessThan(1e-10);
      }
    });

  it('at t = 0 both give α·g(w0); the predictor closure equals the one-shot function', () => {
    const inp = crossKernelInputs(ev, 3);
    const g0 = ev.testOutput(model.w0);
    expect(Array.from(crossKernelPrediction(inp, 0))).toEqual(Array.from(g0, (x) => 3 * x));
    const predict = linearizedTestPredictor(ev);
    const rand = lcg(5);
    for (let i = 0; i < 3; i++) {
      const dw = randomArray(rand, p);
      expect(relErr(predict(dw), linearizedTestPrediction(ev, dw))).toBeLessThan(1e-15);
    }
    expect(Array.from(predict(new Float64Array(p)))).toEqual(Array.from(g0));
  });
});

describe('limiting cases', () => {
  it('on the training inputs eq. 19 is eq. 15: α h̄(t) = y* − exp(−K0 t) r0, → y* as t → ∞', () => {
    const same = compile(source.replace('test g = f(Xt)', 'test g = f(X)'), 'same.ntk');
    const e2 = new Evaluator(same);
    const alpha = 2;
    const inp = crossKernelInputs(e2, alpha);
    const lin = new LinearizedFlow(kernelSpectrum(inp.K0, k), inp.r0);
    const ystar = e2.target()!;
    for (const t of [0.1, 1, 10]) {
      const eq15 = lin.residual(t).map((r, i) => ystar[i]! - r);
      expect(relErr(crossKernelPrediction(inp, t), eq15)).toBeLessThan(1e-10);
      expect(relErr(linearizedTestPrediction(e2, linShift(e2, alpha, t)).map((x) => alpha * x), eq15)).toBeLessThan(1e-10);
    }
    expect(relErr(crossKernelPrediction(inp, 1e6), ystar)).toBeLessThan(1e-10);
  });

  it('ḡ = g(w0) + Dg(w0)·Δw is the first-order Taylor polynomial: g(w0 + εΔ) − ḡ = O(ε²)', () => {
    const dw = randomArray(lcg(9), p);
    const gap = (eps: number) => {
      const lin = linearizedTestPrediction(ev, dw.map((x) => eps * x));
      const tru = ev.testOutput(model.w0.map((x, i) => x + eps * dw[i]!));
      return Math.hypot(...tru.map((x, i) => x - lin[i]!));
    };
    const ratio = gap(1e-2) / gap(5e-3);
    expect(ratio).toBeGreaterThan(3.6);
    expect(ratio).toBeLessThan(4.4);
  });
});

describe('errors', () => {
  it('a singular K0 (more outputs than weights) is refused by the kernel form, not by the JVP route', () => {
    const m = compile('param w : [2] = [0.5, -0.3]\ndata X : [4] = [1, 2, 3, 4]\ndata Z : [3] = [0.5, 1.5, 2.5]\nmodel h = w[0] * X + w[1] * X^2\nloss square(target = 1)\ntest g = w[0] * Z + w[1] * Z^2', 's.ntk');
    const e = new Evaluator(m);
    const inp = crossKernelInputs(e, 1);
    expect(() => crossKernelPrediction(inp, 1)).toThrow(/not positive definite/);
    // The JVP route needs no inverse, and a linear model is its own linearization.
    const dw = Float64Array.of(0.25, 0.125);
    const exact = e.testOutput(m.w0.map((x, i) => x + dw[i]!));
    expect(relErr(linearizedTestPrediction(e, dw), exact)).toBeLessThan(1e-15);
  });

  it('the kernel form needs the square loss and a test declaration', () => {
    const custom = compile('param w = 1\nmodel h = w\nloss R(v) = v^2\ntest g = 2 * w', 'c.ntk');
    expect(() => crossKernelInputs(new Evaluator(custom), 1)).toThrow(/square loss/);
    const none = compile('param w = 1\nmodel h = w\nloss square(target = 0)', 'n.ntk');
    expect(() => crossKernelInputs(new Evaluator(none), 1)).toThrow(/no test outputs/);
    expect(() => linearizedTestPrediction(new Evaluator(none), Float64Array.of(1))).toThrow(/no test outputs/);
  });
});
