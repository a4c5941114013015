/** Per-parameter learning rates and frozen parameters as a change of variables (src/ir/rates.ts). */
import { describe, expect, it } from 'vitest';
import { compile, evaluate, jacobian, ntk, flow, gradientDescent, withRates, parseRates, RateError, kernelName, nth } from '../../src/index.ts';

const src = (phi: string) =>
  'dim n = 6, d = 3, m = 8\ndata X : [n, d] = normal(0, 1, seed = 1)\ndata y : [n] = normal(0, 1, seed = 2)\n' +
  'param W : [m, d] ~ normal(0, 1)\nparam v : [m] ~ normal(0, 1)\nparam b = 0.3\n' +
  `def f(x : [d]) = dot(v, ${phi}(W @ x / sqrt(d))) / sqrt(m) + b\nmodel h = f(X)\nloss square(target = y)`;
const net = compile(src('tanh'), 'net.ntk');
const k = 6, p = net.paramCount;
const off = Object.fromEntries(net.params.map((q) => [q.name, q]));

/** H = diag(rate of each weight's parameter). */
const diagH = (rates: Record<string, number>) => {
  const H = new Float64Array(p);
  for (const q of net.params) H.fill(rates[q.name] ?? 0, q.offset, q.offset + q.size);
  return H;
};

describe('per-parameter rates', () => {
  it('the NTK of withRates(model) is Dh·H·Dhᵀ', () => {
    const rates = { W: 0.7, v: 2.5 };
    const H = diagH(rates);
    const J = jacobian(net).data;
    const K = ntk(withRates(net, rates)).data;
    for (let a = 0; a < k; a++)
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < p; j++) s += J[a * p + j]! * H[j]! * J[c * p + j]!;
        expect(K[a * k + c]).toBeCloseTo(s, 12);
      }
    expect(kernelName(withRates(net, rates))).toBe('Dh·H·Dhᵀ with H = diag(W: 0.7, v: 2.5, b: 0 (frozen))');
    expect(kernelName(net)).toBe('Dh·Dhᵀ');
  });

  it('the reparametrized model has the same outputs at w0, and frozen parameters become data', () => {
    const m = withRates(net, { W: 4, b: 1 });
    expect(Array.from(evaluate(m))).toEqual(Array.from(evaluate(net)).map((x) => expect.closeTo(x, 14)));
    expect(m.params.map((q) => q.name)).toEqual(['W', 'b']);
    expect(m.paramCount).toBe(off.W!.size + 1);
    expect(m.w0[0]).toBeCloseTo(net.w0[0]! / 2, 15); // u = w/√η
    expect(m.data.map((d) => d.name)).toContain('v');
  });

  it('gradient descent with rates equals a direct loop w ← w − (η_P/α) Dhᵀ(α·h(w) − y)', () => {
    const rates = { W: 0.3, v: 0.9 }, alpha = 1.5, steps = 25;
    const r = gradientDescent(net, { alpha, lr: rates, steps });
    const H = diagH(rates);
    const y = net.data.find((q) => q.name === 'y')!.value;
    const w = net.w0.slice();
    for (let s = 0; s < steps; s++) {
      const h = evaluate(net, w), J = jacobian(net, w).data;
      const res = Array.from(h, (x, i) => alpha * x - y[i]!);
      for (let j = 0; j < p; j++) {
        let g = 0;
        for (let a = 0; a < k; a++) g += J[a * p + j]! * res[a]!;
        w[j] -= (H[j]! / alpha) * g;
      }
    }
    const out = evaluate(net, w);
    for (let i = 0; i < k; i++) expect(Math.abs(r.out[i]! - alpha * out[i]!)).toBeLessThan(1e-12);
    expect(r.rates).toEqual([{ name: 'W', rate: 0.3 }, { name: 'v', rate: 0.9 }, { name: 'b', rate: 0 }]);
    expect(r.kernel).toMatch(/Dh·H·Dhᵀ/);
    // b never moved: the last weight is frozen
    expect(w[p - 1]).toBe(net.w0[p - 1]);
  });

  it('a plain --lr η keeps its meaning: the same as every parameter at rate η', () => {
    const a = gradientDescent(net, { alpha: 1, lr: 0.2, steps: 10 });
    const b = gradientDescent(net, { alpha: 1, lr: { W: 0.2, v: 0.2, b: 0.2 }, steps: 10 });
    for (let i = 0; i < k; i++) expect(b.out[i]).toBeCloseTo(a.out[i]!, 12);
    expect(a.rates).toBeNull();
    expect(b.stability).toBeCloseTo(a.stability, 10);
  });

  it('with only the readout trained the network equals its linearization exactly (seed 003 §5)', () => {
    const readout = withRates(net, { v: 1.3 });
    const f = flow(readout, { alpha: 1, T: 5, accuracy: false });
    const scale = Math.max(...Array.from(f.out, Math.abs));
    expect(f.error).toBeLessThan(1e-12 * scale);
    expect(f.kernel.name).toBe('Dh·H·Dhᵀ with H = diag(W: 0 (frozen), v: 1.3, b: 0 (frozen))');
    const d = gradientDescent(net, { alpha: 1, lr: { v: 0.5 }, steps: 40 });
    expect(d.error).toBeLessThan(1e-12 * scale);
    // the hidden layer trained too: the network leaves its linearization
    const both = flow(withRates(net, { W: 1, v: 1.3 }), { alpha: 1, T: 5, accuracy: false });
    expect(both.error).toBeGreaterThan(1e-4);
    // and the hierarchy's higher kernels vanish: p = 2 and p = 3 agree with the true flow
    expect(nth(readout, 3, { T: 2 }).error).toBeLessThan(1e-9);
  });

  it('the flow with rates: dw/dt = −H∇L is the flow of the reparametrized model (time T, not ηT)', () => {
    // one rate η for every parameter is the plain flow to time ηT
    const eta = 0.4, T = 2;
    const a = flow(net, { alpha: 1, T: eta * T, accuracy: false });
    const b = flow(withRates(net, { W: eta, v: eta, b: eta }), { alpha: 1, T, accuracy: false });
    for (let i = 0; i < k; i++) expect(b.out[i]).toBeCloseTo(a.out[i]!, 9);
    expect(b.error).toBeCloseTo(a.error, 9);
  });

  it('parses --lr and rejects bad rates', () => {
    expect(parseRates('0.1')).toBe(0.1);
    expect(parseRates('W=0.5, v=0')).toEqual(new Map([['W', 0.5], ['v', 0]]));
    expect(() => parseRates('-1')).toThrow(RateError);
    expect(() => parseRates('W=-0.5')).toThrow(/must be ≥ 0/);
    expect(() => parseRates('W=Infinity')).toThrow(/not a finite number/);
    expect(() => parseRates('W=nan')).toThrow(/not a finite number/);
    expect(() => parseRates('W=1,W=2')).toThrow(/twice/);
    expect(() => parseRates('W')).toThrow(RateError);
    expect(() => withRates(net, { U: 1 })).toThrow(/'U' is not a parameter of net.ntk \(its parameters: W, v, b\)/);
    expect(() => withRates(net, { W: 0 })).toThrow(/every parameter .* would be frozen/);
    expect(() => withRates(net, { W: -1 })).toThrow(RateError);
  });
});
