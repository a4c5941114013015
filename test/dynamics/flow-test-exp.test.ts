/**
 * Two parts of the flow beyond the closed forms: predictions on held-out inputs (a `test`
 * declaration, seed 003 eq. 19) and the exponential method that 'auto' picks for stiff flows.
 */
import { describe, expect, it } from 'vitest';
import { compile, loadModel } from '../../src/index.ts';
import { flow } from '../../src/dynamics/flow.ts';
import { relErr } from '../helpers.ts';

const meanfield = (test: string, a = 'param a : [m] ~ uniform(-1/sqrt(m), 1/sqrt(m))') =>
  compile(
    `dim n = 12, d = 3, m = 32, nt = 5
data X : [n, d] = normal(0, 1, seed = 1)
data Xt : [nt, d] = normal(0, 1, seed = 3)
data y : [n] = normal(0, 1, seed = 2)
${a}
param U : [m, d] ~ uniform(-1/sqrt(m), 1/sqrt(m))
def f(x : [d]) = sum(a * sigmoid(sqrt(m) * (U @ x))) / sqrt(m)
model h = f(X) / sqrt(n)
loss square(target = y / sqrt(n))
${test}`,
    'mf.ntk',
  );

describe('predictions on held-out inputs', () => {
  it('equal the training outputs, true and linearized, when the test inputs are the training inputs', () => {
    const r = flow(meanfield('test g = f(X) / sqrt(n)'), { alpha: 2, T: 20 });
    expect(r.test).not.toBeNull();
    expect(relErr(r.test!.out, r.out)).toBeLessThan(1e-12);
    // ḡ(w̄(T)) by a JVP at w0 against ȳ from the closed form exp(−K0 T) r0
    expect(relErr(r.test!.linOut, r.linOut)).toBeLessThan(1e-10);
    expect(Math.abs(r.test!.error - r.error)).toBeLessThan(1e-10 * r.error + 1e-14);
  });

  it('approach their linearization at least like 1/α (the lazy regime off the training set too)', () => {
    // a = 0 at w0: h(w0) = 0, so R0 does not grow with α (Corollary 2.2's setting). The error
    // then falls like 1/α²: ∂h/∂U = 0 at w0, so U moves only at second order (δU ~ 1/α²).
    const model = meanfield('test g = f(Xt) / sqrt(n)', 'param a : [m] = 0');
    const errs = [4, 16, 64].map((alpha) => flow(model, { alpha, T: 10, accuracy: false }).test!.error);
    for (let i = 1; i < errs.length; i++) {
      const ratio = errs[i - 1]! / errs[i]!;
      expect(ratio).toBeGreaterThan(4 * 0.9); // at least the 1/α of Corollary 2.2
      expect(ratio).toBeLessThan(16 * 1.1); // and not faster than 1/α²
    }
  });

  it('are absent without a test declaration', () => {
    expect(flow(loadModel('examples/meanfield.ntk'), { alpha: 1, T: 1, accuracy: false }).test).toBeNull();
  });
});

describe('the exponential method on a stiff flow', () => {
  it("is what 'auto' picks when λmax(K0)·T is large, and agrees with DOP853 at a tight tolerance", () => {
    const model = meanfield('');
    const auto = flow(model, { alpha: 2, T: 3000 });
    expect(auto.method).toBe('exponential');
    expect(auto.kernel.lambdaMax * 3000).toBeGreaterThan(200);
    const ref = flow(model, { alpha: 2, T: 3000, method: 'dop853', rtol: 1e-11, accuracy: false });
    expect(Math.abs(auto.error - ref.error) / ref.error).toBeLessThan(1e-6);
    expect(relErr(auto.out, ref.out)).toBeLessThan(1e-6); // rtol 1e-7 on δ
    // the reported accuracy is an honest bound on the actual discrepancy
    expect(auto.errorAccuracy!).toBeGreaterThanOrEqual(Math.abs(auto.error - ref.error) / 10);
    // and far fewer gradients than the explicit method needs
    expect(auto.stats.rhsEvals).toBeLessThan(ref.stats.rhsEvals / 2);
  });
});
