/** `early` (seed 004, MATH.md §4): the two-layer form, the side-by-side training, the kernels, bad input. */
import { describe, expect, it } from 'vitest';
import { compile, early, gaussianMoments, recognizeTwoLayer, features, ntk, withRates, NtkError, RateError, type ActivationMoments } from '../../src/index.ts';
import { symmetricEigen } from '../../src/linalg/dense.ts';

const net = (o: { n?: number; d?: number; m?: number; phi?: string; body?: string; extra?: string; v?: string; X?: string } = {}) =>
  compile(
    `dim n = ${o.n ?? 30}, d = ${o.d ?? 4}, m = ${o.m ?? 16}, nt = 12\n` +
      `data X : [n, d] = ${o.X ?? 'normal(0, 1, seed = 1)'}\ndata Xt : [nt, d] = normal(0, 1, seed = 2)\n` +
      `param W : [m, d] ~ normal(0, 1, mirror = 1)\nparam v : [m] ~ ${o.v ?? 'normal(1, 0, mirror = -1)'}\n${o.extra ?? ''}` +
      `def f(x : [d]) = ${o.body ?? `dot(v, ${o.phi ?? 'tanh'}(W @ x / sqrt(d))) / sqrt(m)`}\nmodel h = f(X)\n` +
      'loss square(target = X[:, 0] + X[:, 1] * X[:, 2])\ntest ht = f(Xt), target = Xt[:, 0] + Xt[:, 1] * Xt[:, 2]',
    'net.ntk',
  );

/** Arbitrary moments: the dynamics and the features do not depend on their values being right. */
const moments: ActivationMoments = { phi: 0.1, dphi: 0.6, gdphi: 0.2, hermite3: -0.05, accuracy: 0, method: 'given' };

const specNorm = (A: Float64Array, n: number) => {
  const { values } = symmetricEigen(A.slice(), n);
  return Math.max(Math.abs(values[0]!), Math.abs(values[n - 1]!));
};

describe('early: the two-layer form', () => {
  it('reads W, v, X and φ off the graph, with constant factors folded into φ', () => {
    expect(recognizeTwoLayer(net({ phi: 'erf' })).activation.text).toBe('φ(z) = erf(z)');
    const f = recognizeTwoLayer(net({ phi: 'tanh' }));
    expect([f.W.name, f.v.name, f.X.name, f.Xt?.name, f.n, f.d, f.m, f.nt]).toEqual(['W', 'v', 'X', 'Xt', 30, 4, 16, 12]);
    // a mean-field readout 1/m: φ = tanh/√m; no 1/√d: φ(z) = tanh(√d z)
    const mf = recognizeTwoLayer(net({ body: 'dot(v, tanh(W @ x / sqrt(d))) / m' })).activation.eval(Float64Array.of(0.7)).phi[0]!;
    expect(mf).toBeCloseTo(Math.tanh(0.7) / 4, 14);
    const raw = recognizeTwoLayer(net({ body: 'dot(v, tanh(W @ x)) / sqrt(m)' })).activation.eval(Float64Array.of(0.7)).phi[0]!;
    expect(raw).toBeCloseTo(Math.tanh(0.7 * 2), 14);
    const relu = recognizeTwoLayer(net({ phi: 'relu' })).activation;
    expect(relu.nonSmooth).toBe(true);
    expect(Array.from(relu.eval(Float64Array.of(-1, 2)).dphi)).toEqual([0, 1]);
  });

  it('says clearly when a model is not two-layer', () => {
    const bad = (o: Parameters<typeof net>[0], why: RegExp) => {
      expect(() => recognizeTwoLayer(net(o))).toThrow(NtkError);
      expect(() => recognizeTwoLayer(net(o))).toThrow(why);
    };
    bad({ extra: 'param U : [m, m] ~ normal(0, 1)\n', body: 'dot(v, tanh(U @ tanh(W @ x / sqrt(d)) / sqrt(m))) / sqrt(m)' }, /expected two parameters/);
    bad({ extra: 'data b : [m] = normal(0, 1, seed = 5)\n', body: 'dot(v, tanh(W @ x / sqrt(d) + b)) / sqrt(m)' }, /depends on 'b' besides W x/);
    bad({ body: 'dot(v, tanh(W @ x / sqrt(d))) / sqrt(m) + x[0]' }, /used outside the first layer/);
    bad({ body: 'dot(v * v, tanh(W @ x / sqrt(d))) / sqrt(m)' }, /not v itself|v must multiply/);
    bad({ body: 'sum(tanh(W @ x / sqrt(d))) / sqrt(m) + sum(v)' }, /not a sum over the hidden units|v must multiply/);
    bad({ body: 'dot(v, tanh(W @ x / sqrt(d)) * sum(tanh(W @ x))) / sqrt(m)' }, /enters 2 matrix products|not an elementwise/);
  });
});

describe('early: the two models side by side', () => {
  it('the network trajectory equals a direct gradient-descent loop to 1e-10, and the linear model its own loop', () => {
    const model = net();
    const eta1 = 0.8, eta2 = 0.3, steps = 60, every = 10;
    const r = early(model, { lr: { W: eta1, v: eta2 }, steps, every, moments });
    // the direct loop: f(x) = vᵀtanh(Wx/√d)/√m, L = (1/2n)Σ(f − y)²
    const n = 30, d = 4, m = 16;
    const X = model.data.find((q) => q.name === 'X')!.value;
    const y = Array.from({ length: n }, (_, i) => X[i * d]! + X[i * d + 1]! * X[i * d + 2]!);
    const W = model.w0.slice(0, m * d), v = model.w0.slice(m * d);
    const fOf = (i: number) => {
      let s = 0;
      for (let q = 0; q < m; q++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += W[q * d + j]! * X[i * d + j]!;
        s += v[q]! * Math.tanh(z / Math.sqrt(d));
      }
      return s / Math.sqrt(m);
    };
    // the linear model: ψ1 = [ζx; ν]/√d, ψ2 = [ζx/√d; ν/√(2d); ϑ0 + ϑ1 u + ϑ2 u²], β = 0
    const zeta = moments.dphi, nu = moments.gdphi * Math.sqrt(r.inputs.traceSigma2 / d);
    const psi = (i: number) => {
      const x = Array.from({ length: d }, (_, j) => X[i * d + j]!);
      const u = Math.hypot(...x) / Math.sqrt(d) - 1;
      return {
        p1: [...x.map((t) => (zeta * t) / Math.sqrt(d)), nu / Math.sqrt(d)],
        p2: [...x.map((t) => (zeta * t) / Math.sqrt(d)), nu / Math.sqrt(2 * d), moments.phi + moments.gdphi * u + moments.hermite3 * u * u],
      };
    };
    const b1 = new Array(d + 1).fill(0), b2 = new Array(d + 2).fill(0);
    const fl = (i: number) => psi(i).p1.reduce((s, t, j) => s + t * b1[j], 0) + psi(i).p2.reduce((s, t, j) => s + t * b2[j], 0);
    let row = 0;
    for (let t = 0; t <= steps; t++) {
      const f = Array.from({ length: n }, (_, i) => fOf(i)), ul = Array.from({ length: n }, (_, i) => fl(i));
      if (t % every === 0) {
        const q = r.trajectory[row++]!;
        expect(q.step).toBe(t);
        const loss = f.reduce((s, x, i) => s + (x - y[i]!) ** 2, 0) / (2 * n);
        const linLoss = ul.reduce((s, x, i) => s + (x - y[i]!) ** 2, 0) / (2 * n);
        const gap = f.reduce((s, x, i) => s + (x - ul[i]!) ** 2, 0) / n;
        expect(Math.abs(q.loss - loss)).toBeLessThan(1e-10 * loss);
        expect(Math.abs(q.linLoss - linLoss)).toBeLessThan(1e-10 * linLoss);
        expect(Math.abs(q.trainGap - gap)).toBeLessThan(1e-10 * Math.max(gap, 1e-30) + 1e-25);
      }
      if (t === steps) break;
      const gW = new Array(m * d).fill(0), gv = new Array(m).fill(0);
      for (let i = 0; i < n; i++) {
        const res = (f[i]! - y[i]!) / n;
        for (let q = 0; q < m; q++) {
          let z = 0;
          for (let j = 0; j < d; j++) z += W[q * d + j]! * X[i * d + j]!;
          const th = Math.tanh(z / Math.sqrt(d));
          gv[q] += (res * th) / Math.sqrt(m);
          for (let j = 0; j < d; j++) gW[q * d + j] += (res * v[q]! * (1 - th * th) * X[i * d + j]!) / Math.sqrt(m * d);
        }
      }
      for (let j = 0; j < m * d; j++) W[j] -= eta1 * gW[j];
      for (let q = 0; q < m; q++) v[q] -= eta2 * gv[q];
      const rl = ul.map((x, i) => (x - y[i]!) / n);
      for (let j = 0; j <= d; j++) b1[j] -= eta1 * rl.reduce((s, x, i) => s + x * psi(i).p1[j]!, 0);
      for (let j = 0; j <= d + 1; j++) b2[j] -= eta2 * rl.reduce((s, x, i) => s + x * psi(i).p2[j]!, 0);
    }
    expect(row).toBe(r.trajectory.length);
    // the outputs themselves after the last step, network and linear model
    const fN = Array.from({ length: n }, (_, i) => fOf(i)), ulN = Array.from({ length: n }, (_, i) => fl(i));
    const scale = Math.max(...fN.map(Math.abs));
    expect(scale).toBeGreaterThan(0.1);
    r.out.forEach((x, i) => expect(Math.abs(x - fN[i]!)).toBeLessThan(1e-10 * scale));
    r.linOut.forEach((x, i) => expect(Math.abs(x - ulN[i]!)).toBeLessThan(1e-10 * scale));
    expect(r.trajectory.at(-1)!.testGap).toBeGreaterThan(0);
  });

  it('the kernels: Θ1(W0) is the model’s first-layer NTK (v = ±1), ε at step 0 is ‖Dh·H·Dhᵀ − K‖', () => {
    const model = net();
    const n = 30, d = 4;
    const r = early(model, { lr: { W: 0.8, v: 0.3 }, steps: 1, every: 1, moments });
    const X = model.data.find((q) => q.name === 'X')!.value;
    const c = { zeta: moments.dphi, nu: r.constants.nu, theta0: moments.phi, theta1: moments.gdphi, theta2: moments.hermite3 };
    const { psi1, psi2 } = features(c, X, n, d);
    const gram = (P: Float64Array, w: number) => {
      const G = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let l = 0; l < w; l++) G[i * n + j] += P[i * w + l]! * P[j * w + l]!;
      return G;
    };
    const lin1 = gram(psi1, d + 1), lin2 = gram(psi2, d + 2);
    const K1 = ntk(withRates(model, { W: 1 })).data, K2 = ntk(withRates(model, { v: 1 })).data;
    expect(r.kernelDistance).toBeCloseTo(specNorm(K1.map((x, i) => x - lin1[i]!), n), 11);
    expect(r.kernelDistance2).toBeCloseTo(specNorm(K2.map((x, i) => x - lin2[i]!), n), 11);
    const KH = ntk(withRates(model, { W: 0.8, v: 0.3 })).data;
    const eps0 = specNorm(KH.map((x, i) => x - 0.8 * lin1[i]! - 0.3 * lin2[i]!), n);
    expect(r.trajectory[0]!.epsilon).toBeCloseTo(eps0, 10);
    expect(r.trajectory[0]!.bound).toBe(0);
    expect(r.trajectory[1]!.bound).toBeCloseTo(r.trajectory[1]!.epsilon / Math.sqrt(n), 14);
    // the paper's f(x) = 0 at w0 (symmetric initialization): both start at 0, the gap is 0
    expect(r.trajectory[0]!.trainGap).toBeLessThan(1e-30);
    expect(r.warnings).toEqual([]);
  });

  it('a frozen readout keeps v fixed; the horizon is d·log d/η1', () => {
    const r = early(net(), { lr: { W: 2 }, steps: 5, every: 5, moments });
    expect(r.rates).toEqual({ eta1: 2, eta2: 0 });
    expect(r.horizon.value).toBeCloseTo((4 * Math.log(4)) / 2, 14);
    const r2 = early(net(), { lr: new Map([['v', 0.5]]), steps: 5, every: 5, moments });
    expect(r2.horizon.eta).toBe(0.5);
  });
});

describe('early: bad input', () => {
  it('rates naming no parameter, negative or non-finite, or freezing both layers', () => {
    expect(() => early(net(), { lr: { U: 1 }, steps: 1, every: 1, moments })).toThrow(/'U' is not a parameter of net.ntk \(its parameters: W, v\)/);
    expect(() => early(net(), { lr: { W: -1 }, steps: 1, every: 1, moments })).toThrow(RateError);
    expect(() => early(net(), { lr: { W: NaN }, steps: 1, every: 1, moments })).toThrow(/finite number ≥ 0/);
    expect(() => early(net(), { lr: { W: 0, v: 0 }, steps: 1, every: 1, moments })).toThrow(/both layers would be frozen/);
  });

  it('the Gaussian constants of a kinked activation: split at its kinks, at 0 or elsewhere', () => {
    // a kink away from 0 is split there too (the constants' test checks the values)
    expect(early(net({ body: 'dot(v, relu(W @ x / sqrt(d) - 1)) / sqrt(m)' }), { lr: { W: 1 }, steps: 1, every: 1 }).constantMethods.zeta).toMatch(/split at the kink at 1/);
    // a kink at 0 is split there: relu's constants come out exact
    const r = early(net({ phi: 'relu' }), { lr: { W: 1 }, steps: 1, every: 1 });
    expect(Math.abs(r.constants.zeta - 0.5)).toBeLessThan(1e-12);
    expect(r.moments.method).toMatch(/^closed forms/);
    // forced quadrature splits at the kink and agrees
    const q = gaussianMoments(recognizeTwoLayer(net({ phi: 'relu' })).activation, 'net.ntk', { quadrature: true });
    expect(q.method).toMatch(/split at the kink/);
    expect(Math.abs(q.dphi - 0.5)).toBeLessThan(1e-12);
  });

  it('a rate above the stability limit 2n/‖K‖ warns with the contraction factor', () => {
    const r = early(net(), { lr: { W: 400 }, steps: 1, every: 1, moments });
    expect(r.stability.contraction).toBeGreaterThan(1);
    expect(r.warnings.join('\n')).toMatch(/above the stability limit: ‖K‖\/n = .* > 2 .* ‖I − K\/n‖ = .*; multiply the rates by less than/);
    expect(r.stability.limitFactor).toBeCloseTo((2 * 30) / r.stability.kernelNorm, 12);
  });

  it('degenerate inputs: an error when every row is the same, warnings for a singular Σ, Tr Σ far from d, f ≠ 0 at w0', () => {
    expect(() => early(net({ X: '1' }), { lr: { W: 1 }, steps: 1, every: 1, moments })).toThrow(/degenerate covariance \(Tr Σ = 0(\.00)?\): every row is the same/);
    const low = net({ n: 3, d: 4 });
    expect(early(low, { lr: { W: 1 }, steps: 1, every: 1, moments }).warnings.join('\n')).toMatch(/singular .* n = 3 ≤ d = 4/);
    const big = net({ X: 'normal(0, 3, seed = 1)' });
    expect(early(big, { lr: { W: 0.01 }, steps: 1, every: 1, moments }).warnings.join('\n')).toMatch(/Tr Σ = .* is far from d = 4/);
    const asym = net({ v: 'normal(0, 1)' });
    expect(early(asym, { lr: { W: 1 }, steps: 1, every: 1, moments }).warnings.join('\n')).toMatch(/f ≠ 0 at w0 .* symmetric initialization/);
  });
});
