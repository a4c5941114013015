/**
 * `predict` with learning rates (`--lr η` or `--lr W=η1,v=η2`, issue 17): the finite-width ensemble
 * of eq. 19 on the NTK Dh·H·Dhᵀ, checked against the linearized flow integrated directly in weight
 * space with a hand-written Jacobian (RK4), against the readout-only closed form with the empirical
 * NNGP-type kernel ΦΦᵀ/m, and the infinite-width prediction with one common rate (time ηt).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Matrix, solve } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { commonRate, ensemblePredict, gpPredict, limitKernels, loadModel, squareTargets, RateError } from '../../src/index.ts';
import { ntk as cli } from '../cli/run-cli.ts';

const n = 6, d = 2, m = 8, nt = 4;
const dir = mkdtempSync(join(tmpdir(), 'ntk-predict-rates-'));
const file = join(dir, 'two.ntk');
writeFileSync(
  file,
  `dim n = ${n}, d = ${d}, m = ${m}, nt = ${nt}\ndata X : [n, d] = normal(0, 1, seed = 1)\ndata y : [n] = normal(0, 1, seed = 2)\n` +
    'data Xt : [nt, d] = normal(0, 1, seed = 3)\nparam W : [m, d] ~ normal(0, 1)\nparam v : [m] ~ normal(0, 1)\n' +
    'def f(x : [d]) = dot(v, tanh(W @ x / sqrt(d))) / sqrt(m)\nmodel h = f(X)\nloss square(target = y)\ntest ht = f(Xt)\n',
);
const modelAt = (s: number) => loadModel(file, { seed: s });

/** f and its gradient in (W, v) at one input x, written out: ∂f/∂v_q = tanh(z_q)/√m, ∂f/∂W_qj = v_q tanh′(z_q) x_j/√(md). */
function fAndGrad(w: Float64Array, x: Float64Array): { f: number; g: Float64Array } {
  const g = new Float64Array(m * d + m);
  let f = 0;
  for (let q = 0; q < m; q++) {
    let z = 0;
    for (let j = 0; j < d; j++) z += w[q * d + j]! * x[j]!;
    const t = Math.tanh(z / Math.sqrt(d)), v = w[m * d + q]!;
    f += (v * t) / Math.sqrt(m);
    g[m * d + q] = t / Math.sqrt(m);
    for (let j = 0; j < d; j++) g[q * d + j] = (v * (1 - t * t) * x[j]!) / Math.sqrt(m * d);
  }
  return { f, g };
}

/**
 * The linearized flow with rates, dδ/dt = −H Jᵀ(f0 + Jδ − y), δ(0) = 0, by RK4 with `steps` steps,
 * and the test prediction ft0 + Jt·δ(T).
 */
function direct(seed: number, rateW: number, rateV: number, T: number, steps = 4000): number[] {
  const model = modelAt(seed);
  const X = model.data.find((q) => q.name === 'X')!.value, Xt = model.data.find((q) => q.name === 'Xt')!.value;
  const y = model.data.find((q) => q.name === 'y')!.value;
  const p = m * d + m;
  const row = (A: Float64Array, i: number) => A.subarray(i * d, i * d + d);
  const J = Array.from({ length: n }, (_, i) => fAndGrad(model.w0, row(X, i)));
  const Jt = Array.from({ length: nt }, (_, i) => fAndGrad(model.w0, row(Xt, i)));
  const H = Float64Array.from({ length: p }, (_, k) => (k < m * d ? rateW : rateV));
  const rhs = (delta: Float64Array) => {
    const out = new Float64Array(p);
    for (let i = 0; i < n; i++) {
      let r = J[i]!.f - y[i]!;
      for (let k = 0; k < p; k++) r += J[i]!.g[k]! * delta[k]!;
      for (let k = 0; k < p; k++) out[k] -= H[k]! * J[i]!.g[k]! * r;
    }
    return out;
  };
  let delta = new Float64Array(p);
  const h = T / steps;
  const axpy = (a: Float64Array, s: number, b: Float64Array) => a.map((x, k) => x + s * b[k]!);
  for (let s = 0; s < steps; s++) {
    const k1 = rhs(delta), k2 = rhs(axpy(delta, h / 2, k1)), k3 = rhs(axpy(delta, h / 2, k2)), k4 = rhs(axpy(delta, h, k3));
    delta = delta.map((x, k) => x + (h / 6) * (k1[k]! + 2 * k2[k]! + 2 * k3[k]! + k4[k]!));
  }
  return Jt.map((q) => q.f + q.g.reduce((acc, gk, k) => acc + gk * delta[k]!, 0));
}

describe('predict --lr: the finite-width ensemble on Dh·H·Dhᵀ', () => {
  it('per-parameter rates: each seed equals the linearized flow dδ/dt = −HJᵀ(f0 + Jδ − y) integrated directly', () => {
    const T = 3, seeds = 3;
    const e = ensemblePredict({ t: T, seeds, lr: { W: 0.5, v: 2 }, modelAt });
    expect(e.kernel).toBe('Dh·H·Dhᵀ with H = diag(W: 0.5, v: 2)');
    for (let s = 0; s < seeds; s++) {
      const want = direct(s, 0.5, 2, T);
      e.predictions[s]!.forEach((x, i) => expect(Math.abs(x - want[i]!), `seed ${s} output ${i}`).toBeLessThan(1e-9 * (1 + Math.abs(want[i]!))));
    }
    // the ensemble's mean is the mean of the seeds
    e.mean.forEach((x, i) => expect(x).toBeCloseTo(e.predictions.reduce((a, p) => a + p[i]!, 0) / seeds, 14));
    // one plain rate η: every parameter at η (H = ηI), which differs from the default H = I
    const plain = ensemblePredict({ t: T, seeds: 2, lr: 0.25, modelAt });
    const want = direct(0, 0.25, 0.25, T);
    plain.predictions[0]!.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(want[i]!))));
    const unit = ensemblePredict({ t: T, seeds: 2, modelAt });
    expect(unit.kernel).toBe('Dh·Dhᵀ');
    expect(Math.abs(unit.predictions[0]![0]! - plain.predictions[0]![0]!)).toBeGreaterThan(1e-3);
  });

  it('readout only (--lr v=η): Θ̂ = ηΦΦᵀ/m, the empirical NNGP-type kernel, at t = ∞ the kernel regression', () => {
    const e = ensemblePredict({ t: Infinity, seeds: 2, lr: new Map([['v', 0.7]]), modelAt });
    expect(e.kernel).toBe('Dh·H·Dhᵀ with H = diag(W: 0 (frozen), v: 0.7)');
    for (let s = 0; s < 2; s++) {
      const model = modelAt(s);
      const X = model.data.find((q) => q.name === 'X')!.value, Xt = model.data.find((q) => q.name === 'Xt')!.value;
      const y = Array.from(model.data.find((q) => q.name === 'y')!.value);
      const feats = (A: Float64Array, i: number) => fAndGrad(model.w0, A.subarray(i * d, i * d + d));
      const tr = Array.from({ length: n }, (_, i) => feats(X, i)), te = Array.from({ length: nt }, (_, i) => feats(Xt, i));
      // Φ/√m are the v-block of the gradient
      const phi = (q: { g: Float64Array }) => Array.from(q.g.subarray(m * d));
      const dot = (a: number[], b: number[]) => a.reduce((acc, x, k) => acc + x * b[k]!, 0);
      const K = new Matrix(tr.map((a) => tr.map((b) => 0.7 * dot(phi(a), phi(b)))));
      const Kx = new Matrix(te.map((a) => tr.map((b) => 0.7 * dot(phi(a), phi(b)))));
      const c = solve(K, Matrix.columnVector(tr.map((q, i) => y[i]! - q.f)));
      const want = te.map((q, i) => q.f + Kx.getRow(i).reduce((acc, x, k) => acc + x * c.get(k, 0), 0));
      e.predictions[s]!.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-9 * (1 + Math.abs(want[i]!))));
    }
  });
});

describe('predict --lr at infinite width: one common rate, the time ηt', () => {
  const lm = loadModel('examples/limit-mlp.ntk');
  it('gpPredict with lr η at t equals lr 1 at ηt; per-parameter rates that differ are refused', () => {
    const lim = limitKernels(lm, { width: ['m'] });
    const y = squareTargets(lm);
    const a = gpPredict(lim, y, { t: 2, lr: 0.5 }), b = gpPredict(lim, y, { t: 1 });
    expect(a.lr).toBe(0.5);
    expect(a.t).toBe(2);
    a.mean.forEach((x, i) => expect(x).toBe(b.mean[i]!));
    expect(commonRate(lm, 0.5)).toBe(0.5);
    expect(commonRate(lm, new Map(lm.params.map((q) => [q.name, 0.3])))).toBe(0.3);
    expect(() => commonRate(lm, { v: 1 })).toThrow(RateError);
    expect(() => commonRate(lm, { v: 1 })).toThrow(/one rate for all parameters .* W1: 0 \(frozen\).* --seeds N/);
  });
});

describe('ntk predict --lr on the command line', () => {
  it('--seeds with rates: the library report, the kernel named; bad rates exit 2 naming --lr', async () => {
    const r = await cli('predict', file, '--T', '3', '--seeds', '2', '--lr', 'W=0.5,v=2', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const e = ensemblePredict({ t: 3, seeds: 2, lr: { W: 0.5, v: 2 }, modelAt });
    expect(j.kernel).toBe(e.kernel);
    expect(j.mean).toEqual(e.mean);
    const text = await cli('predict', file, '--T', '3', '--seeds', '2', '--lr', 'v=1');
    expect(text.stdout).toMatch(/kernel\s+Dh·H·Dhᵀ with H = diag\(W: 0 \(frozen\), v: 1\)/);
    const cases: [string[], RegExp][] = [
      [['--seeds', '2', '--lr', 'U=1'], /--lr: 'U' is not a parameter of .*two.ntk \(its parameters: W, v\)/],
      [['--seeds', '2', '--lr', 'v=-1'], /--lr: the rate of 'v' is -1: a learning rate must be ≥ 0/],
      [['--seeds', '2', '--lr', 'v=nan'], /--lr: the rate of 'v' is nan, not a finite number/],
      [['--seeds', '2', '--lr', 'W=0,v=0'], /every parameter .* would be frozen/],
      [['--width', 'm', '--lr', 'v=1'], /one rate for all parameters/],
    ];
    for (const [args, msg] of cases) {
      const q = await cli('predict', args.includes('--width') ? 'examples/limit-mlp.ntk' : file, '--T', '3', ...args);
      expect(q.code, args.join(' ')).toBe(2);
      expect(q.stderr).toMatch(msg);
    }
  });

  it('--width with a plain --lr η: the same as --T ηt', async () => {
    const a = JSON.parse((await cli('predict', 'examples/limit-mlp.ntk', '--width', 'm', '--T', '4', '--lr', '0.25', '--json')).stdout);
    const b = JSON.parse((await cli('predict', 'examples/limit-mlp.ntk', '--width', 'm', '--T', '1', '--json')).stdout);
    expect(a.lr).toBe(0.25);
    expect(a.mean).toEqual(b.mean);
  });
});
