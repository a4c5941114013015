/**
 * The evaluator on a model's test outputs g (the `test` declaration): g(w), Dg(w)·v,
 * Dg(w) in blocks, and the cross kernel Dg·Dhᵀ, each against an independent computation
 * (central differences, the mean-field network's Jacobian written by hand).
 */
import { describe, expect, it } from 'vitest';
import { Evaluator, loadModel, compile } from '../../src/index.ts';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';

const model = loadModel('examples/meanfield-test.ntk');
const ev = new Evaluator(model);
const n = 16, d = 3, m = 64, nt = 8;
const p = model.paramCount;
const dataOf = (name: string) => model.data.find((q) => q.name === name)!.value;

/**
 * The Jacobian of x ↦ f(x)/√n, f(x) = Σ_i a_i σ(z_i)/√m, z_i = √m ⟨u_i, x⟩, on the rows of X:
 * ∂/∂a_i = σ(z_i)/(√m √n), ∂/∂u_i = a_i σ'(z_i) x/√n.
 */
function handJacobian(X: Float64Array, rows: number, w: Float64Array): Float64Array {
  const a = w.subarray(0, m), U = w.subarray(m);
  const J = new Float64Array(rows * p);
  const sn = Math.sqrt(n), sm = Math.sqrt(m);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let c = 0; c < d; c++) z += U[i * d + c]! * X[r * d + c]!;
      const s = 1 / (1 + Math.exp(-sm * z));
      J[r * p + i] = s / (sm * sn);
      for (let c = 0; c < d; c++) J[r * p + m + i * d + c] = (a[i]! * s * (1 - s) * X[r * d + c]!) / sn;
    }
  return J;
}

describe('test outputs of examples/meanfield-test.ntk', () => {
  const rand = lcg(7);
  const w = model.w0.map((x) => x + 0.1 * (rand() - 0.5)); // not only at w0
  const Jt = handJacobian(dataOf('Xt'), nt, w);

  it('Dg(w)·v agrees with central differences of g', () => {
    for (let trial = 0; trial < 3; trial++) {
      const v = randomArray(rand, p);
      const eps = 1e-5;
      const gp = ev.testOutput(w.map((x, i) => x + eps * v[i]!));
      const gm = ev.testOutput(w.map((x, i) => x - eps * v[i]!));
      const fd = gp.map((x, i) => (x - gm[i]!) / (2 * eps));
      expect(relErr(ev.testJvp(w, v), fd)).toBeLessThan(1e-8);
    }
  });

  it('Dg(w) in both modes and any block size equals the hand-written Jacobian', () => {
    expect(relErr(ev.testJacobian(w), Jt)).toBeLessThan(1e-13);
    for (const mode of ['forward', 'reverse'] as const)
      for (const blockSize of [1, 3, 8]) expect(relErr(ev.testJacobian(w, { mode, blockSize }), Jt)).toBeLessThan(1e-13);
  });

  it('testJvpAt(w) is testJvp(w, ·) for several tangents, and Dg·v = Jt·v', () => {
    const at = ev.testJvpAt(w);
    for (let trial = 0; trial < 3; trial++) {
      const v = randomArray(rand, p);
      const Jv = new Float64Array(nt);
      for (let r = 0; r < nt; r++) for (let c = 0; c < p; c++) Jv[r] += Jt[r * p + c]! * v[c]!;
      expect(relErr(at(v), Jv)).toBeLessThan(1e-13);
      expect(Array.from(at(v))).toEqual(Array.from(ev.testJvp(w, v)));
    }
  });

  it('the cross kernel Dg·Dhᵀ (kt × k) equals the product of the explicit Jacobians', () => {
    const J = handJacobian(dataOf('X'), n, w);
    const C = ev.crossKernel(w);
    expect(C.length).toBe(nt * n);
    const ref = new Float64Array(nt * n);
    for (let i = 0; i < nt; i++)
      for (let a = 0; a < n; a++) {
        let s = 0;
        for (let c = 0; c < p; c++) s += Jt[i * p + c]! * J[a * p + c]!;
        ref[i * n + a] = s;
      }
    expect(relErr(C, ref)).toBeLessThan(1e-13);
    // Jacobians passed in are used as given (a flow that already has J0 does not recompute it).
    const C6 = ev.crossKernel(w, { jacobian: J.map((x) => 2 * x), testJacobian: Jt.map((x) => 3 * x) });
    expect(relErr(C6, ref.map((x) => 6 * x))).toBeLessThan(1e-13);
  });

  it('on the training inputs the cross kernel is the NTK', () => {
    const same = compile(model.source.replace('test ht = f(Xt) / sqrt(n), target = yt / sqrt(n)', 'test ht = f(X) / sqrt(n)'), model.file);
    const e2 = new Evaluator(same);
    const K = ntkFromJacobian(e2, e2.jacobian(same.w0));
    expect(relErr(e2.crossKernel(same.w0), K)).toBeLessThan(1e-14);
  });

  it('the test target is yt/√n', () => {
    const yt = dataOf('yt');
    expect(relErr(ev.testTarget()!, yt.map((v) => v / Math.sqrt(n)))).toBe(0);
  });
});
