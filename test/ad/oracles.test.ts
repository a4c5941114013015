/**
 * Closed-form oracles: models whose derivatives of every order are known exactly, and
 * networks whose Jacobian is written out by hand (an implementation independent of the AD).
 */
import { describe, expect, it } from 'vitest';
import { compile, directionalDerivative, evaluate, hvp, jacobian, jvp, loss, ntk, vjp } from '../../src/index.ts';
import { lcg, randomArray, relErr } from '../helpers.ts';
import { readFileSync } from 'node:fs';
import { defaultBackend, loadModel } from '../../src/index.ts';

const converse = (T: number, b: number, R0: number) =>
  compile(`const T = ${T}, b = ${b}, R0 = ${R0}\nparam w = 0\nmodel h = w / sqrt(T) + b * w^2 / 2\nloss square(target = sqrt(2 * R0))`, 'converse.ntk');

describe("Theorem 1.3's model h(w) = a·w + b·w²/2", () => {
  const T = 100, b = 2, R0 = 0.5;
  const a = 1 / Math.sqrt(T);
  const m = converse(T, b, R0);

  it.each([0, 0.3, -1.7])('h, Dh and the loss at w = %s are exact', (w) => {
    const W = Float64Array.of(w);
    expect(evaluate(m, W)[0]).toBeCloseTo(a * w + (b * w * w) / 2, 15);
    expect(jacobian(m, W).data[0]).toBeCloseTo(a + b * w, 15);
    const alpha = 3;
    const ystar = Math.sqrt(2 * R0);
    const hw = a * w + (b * w * w) / 2;
    expect(loss(m, { alpha, w: W })).toBeCloseTo(0.5 * (alpha * hw - ystar) ** 2, 14);
    // ∇²L = α²(h')² + α(αh − y*)·h''
    const exact = alpha ** 2 * (a + b * w) ** 2 + alpha * (alpha * hw - ystar) * b;
    expect(hvp(m, Float64Array.of(1), { alpha, w: W })[0]).toBeCloseTo(exact, 12);
  });

  it('D²h[v1, v2] = b·v1·v2 and D³h = D⁴h = 0 exactly', () => {
    const v = [Float64Array.of(0.7), Float64Array.of(-1.3), Float64Array.of(2), Float64Array.of(0.5)];
    const W = Float64Array.of(0.4);
    expect(directionalDerivative(m, v.slice(0, 1), W)[0]).toBeCloseTo((a + b * 0.4) * 0.7, 15);
    expect(directionalDerivative(m, v.slice(0, 2), W)[0]).toBe(b * 0.7 * -1.3);
    expect(directionalDerivative(m, v.slice(0, 3), W)[0]).toBe(0);
    expect(directionalDerivative(m, v, W)[0]).toBe(0);
  });
});

describe('h(w) = sin(w1)·exp(w2): every order exact', () => {
  const m = compile('param w : [2] = [0.3, -0.2]\nmodel h = sin(w[0]) * exp(w[1])', 'sinexp.ntk');
  // ∂^i_1 ∂^j_2 h = sin^(i)(w1)·e^{w2}; D^k h[v1..vk] = Σ over choices of coordinates.
  const dsin = (i: number, x: number) => [Math.sin(x), Math.cos(x), -Math.sin(x), -Math.cos(x)][i % 4]!;
  it.each([1, 2, 3, 4, 5])('order %s matches the closed form', (k) => {
    const rand = lcg(k);
    const vs = Array.from({ length: k }, () => randomArray(rand, 2));
    const w = Float64Array.of(0.3, -0.2);
    let exact = 0;
    for (let mask = 0; mask < 1 << k; mask++) {
      let i = 0, coef = 1;
      for (let j = 0; j < k; j++) {
        if (mask & (1 << j)) coef *= vs[j]![1]!;
        else (coef *= vs[j]![0]!), i++;
      }
      exact += coef * dsin(i, w[0]!) * Math.exp(w[1]!);
    }
    expect(directionalDerivative(m, vs, w)[0]).toBeCloseTo(exact, 13);
  });
});

/** The mean-field network of examples/meanfield.ntk with its Jacobian written by hand. */
function meanfieldByHand(X: Float64Array, n: number, d: number, mw: number, a: Float64Array, U: Float64Array) {
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const h = new Float64Array(n);
  const p = mw + mw * d;
  const J = new Float64Array(n * p);
  for (let r = 0; r < n; r++) {
    let f = 0;
    for (let i = 0; i < mw; i++) {
      let z = 0;
      for (let c = 0; c < d; c++) z += U[i * d + c]! * X[r * d + c]!;
      z *= Math.sqrt(mw);
      const s = sig(z);
      f += a[i]! * s;
      J[r * p + i] = s / Math.sqrt(mw) / Math.sqrt(n);
      for (let c = 0; c < d; c++) J[r * p + mw + i * d + c] = (a[i]! * s * (1 - s) * X[r * d + c]!) / Math.sqrt(n);
    }
    h[r] = f / Math.sqrt(mw) / Math.sqrt(n);
  }
  return { h, J };
}

describe('the mean-field example against a hand-written Jacobian', () => {
  const model = loadModel('examples/meanfield.ntk');
  const n = 16, d = 3, mw = 64;
  const X = model.data.find((q) => q.name === 'X')!.value;
  const a = model.w0.subarray(0, mw), U = model.w0.subarray(mw);
  const ref = meanfieldByHand(X, n, d, mw, a, U);

  it('h(w0) and Dh(w0) agree to 1e-12 relative (forward and reverse mode)', () => {
    expect(relErr(evaluate(model), ref.h)).toBeLessThan(1e-12);
    expect(relErr(jacobian(model, model.w0, { mode: 'reverse' }).data, ref.J)).toBeLessThan(1e-12);
    expect(relErr(jacobian(model, model.w0, { mode: 'forward' }).data, ref.J)).toBeLessThan(1e-12);
  });

  // The JS kernels sum every product in the same order whatever the block size, so the blocked
  // Jacobians are bitwise equal there; BLAS picks its kernel (and summation order) by shape,
  // so on the native backend they agree to a few ulps instead.
  const expectSameBlocks = (got: Float64Array, want: Float64Array) => {
    if (defaultBackend().name === 'js') expect(got).toEqual(want);
    else expect(relErr(got, want)).toBeLessThan(1e-15);
  };

  it('blocks of any size give the same Jacobian', () => {
    const full = jacobian(model, model.w0, { mode: 'reverse', blockSize: n }).data;
    for (const B of [1, 3, 5]) expectSameBlocks(jacobian(model, model.w0, { mode: 'reverse', blockSize: B }).data, full);
  });

  it('the per-row (structured) Jacobian equals the whole-model one and the hand-written one', () => {
    const rows = jacobian(model, model.w0, { structure: 'rows' }).data;
    expect(relErr(rows, ref.J)).toBeLessThan(1e-12);
    expect(relErr(rows, jacobian(model, model.w0, { structure: 'dense' }).data)).toBeLessThan(1e-14);
    for (const B of [1, 5]) expectSameBlocks(jacobian(model, model.w0, { structure: 'rows', blockSize: B }).data, rows);
  });

  it('the NTK equals J·Jᵀ of the hand-written Jacobian, symmetric', () => {
    const K = ntk(model).data;
    const p = mw + mw * d;
    const Kref = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let c = 0; c < p; c++) s += ref.J[i * p + c]! * ref.J[j * p + c]!;
        Kref[i * n + j] = s;
      }
    expect(relErr(K, Kref)).toBeLessThan(1e-12);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(K[i * n + j]).toBe(K[j * n + i]);
  });

  it('J·v and Jᵀ·u agree with the Jacobian', () => {
    const rand = lcg(3);
    const p = model.paramCount;
    const v = randomArray(rand, p), u = randomArray(rand, n);
    const Jv = new Float64Array(n), Jtu = new Float64Array(p);
    for (let i = 0; i < n; i++)
      for (let c = 0; c < p; c++) {
        Jv[i] += ref.J[i * p + c]! * v[c]!;
        Jtu[c] += ref.J[i * p + c]! * u[i]!;
      }
    expect(relErr(jvp(model, v), Jv)).toBeLessThan(1e-12);
    expect(relErr(vjp(model, u), Jtu)).toBeLessThan(1e-12);
  });

  it('the Jacobian agrees with central differences', () => {
    const J = jacobian(model).data;
    const p = model.paramCount;
    const eps = 1e-6;
    for (const c of [0, 5, 63, 64, 100, 255]) {
      const wp = model.w0.slice(), wm = model.w0.slice();
      wp[c] += eps;
      wm[c] -= eps;
      const hp = evaluate(model, wp), hm = evaluate(model, wm);
      const col = Array.from({ length: n }, (_, i) => J[i * p + c]!);
      expect(relErr(col, Array.from(hp, (x, i) => (x - hm[i]!) / (2 * eps)), 1e-8)).toBeLessThan(1e-6);
    }
  });
});

describe('the deep example against a hand-written forward and backward pass', () => {
  const model = loadModel('examples/deep.ntk');
  const n = 8, d = 3, mw = 128, H = 3;
  const X = model.data.find((q) => q.name === 'X')!.value;
  const w = model.w0;
  const W1 = w.subarray(0, mw * d), Wl = w.subarray(mw * d, mw * d + (H - 1) * mw * mw), a = w.subarray(mw * d + (H - 1) * mw * mw);
  const p = model.paramCount;

  function byHand() {
    const h = new Float64Array(n), J = new Float64Array(n * p);
    for (let r = 0; r < n; r++) {
      const x = X.subarray(r * d, r * d + d);
      // forward: z_0 = tanh(W1 x)/√m, z_l = tanh(W[l-1] z_{l-1})/√m
      const zs: Float64Array[] = [];
      const ins: Float64Array[] = [x];
      let cur = x, mats: Float64Array[] = [W1], dims = [d];
      for (let l = 0; l < H - 1; l++) mats.push(Wl.subarray(l * mw * mw, (l + 1) * mw * mw)), dims.push(mw);
      for (let l = 0; l < H; l++) {
        const z = new Float64Array(mw);
        for (let i = 0; i < mw; i++) {
          let s = 0;
          for (let c = 0; c < dims[l]!; c++) s += mats[l]![i * dims[l]! + c]! * cur[c]!;
          z[i] = Math.tanh(s) / Math.sqrt(mw);
        }
        zs.push(z);
        cur = z;
        if (l < H - 1) ins.push(z);
      }
      let f = 0;
      for (let i = 0; i < mw; i++) f += a[i]! * cur[i]!;
      h[r] = f;
      // backward
      const row = J.subarray(r * p, (r + 1) * p);
      row.set(cur, p - mw);
      let delta = Float64Array.from(a); // ∂f/∂z_l
      const offsets = [0, ...Array.from({ length: H - 1 }, (_, l) => mw * d + l * mw * mw)];
      for (let l = H - 1; l >= 0; l--) {
        const z = zs[l]!;
        // z = tanh(s)/√m: ∂z/∂s = (1 − (√m z)²)/√m
        const ds = z.map((zi, i) => (delta[i]! * (1 - mw * zi * zi)) / Math.sqrt(mw));
        const inp = ins[l]!;
        for (let i = 0; i < mw; i++) for (let c = 0; c < dims[l]!; c++) row[offsets[l]! + i * dims[l]! + c] = ds[i]! * inp[c]!;
        const next = new Float64Array(dims[l]!);
        for (let i = 0; i < mw; i++) for (let c = 0; c < dims[l]!; c++) next[c] += mats[l]![i * dims[l]! + c]! * ds[i]!;
        delta = next;
      }
    }
    return { h, J };
  }
  const ref = byHand();

  it('h(w0) and Dh(w0) agree to 1e-12 relative', () => {
    expect(relErr(evaluate(model), ref.h)).toBeLessThan(1e-12);
    expect(relErr(jacobian(model).data, ref.J)).toBeLessThan(1e-12);
  });

  it('the custom loss is R(v) = Σ(v − y)²/(2n)', () => {
    const y = model.data.find((q) => q.name === 'y')!.value;
    const expected = ref.h.reduce((s, hv, i) => s + (hv - y[i]!) ** 2, 0) / (2 * n);
    expect(loss(model)).toBeCloseTo(expected, 14);
    const csv = readFileSync('examples/y.csv', 'utf8');
    expect(csv.length).toBeGreaterThan(0);
  });
});

describe('the per-row Jacobian of row-separable models', () => {
  it('several outputs per row, and data rows that enter twice: equal to the whole-model Jacobian', () => {
    const m = compile(
      `dim n = 5, d = 3, m = 7
data X : [n, d] = normal(0, 1, seed = 4)
data Z : [n, 2] = normal(0, 1, seed = 5)
param W : [m, d] ~ normal(0, 1)
param V : [2, m] ~ normal(0, 1)
def f(x : [d], z : [2]) = V @ tanh(W @ x) * z + sum(x) * z
model h = f(X, Z)`,
      'rows.ntk',
    );
    const rows = jacobian(m, m.w0, { structure: 'rows' }).data;
    expect(relErr(rows, jacobian(m, m.w0, { structure: 'dense' }).data)).toBeLessThan(1e-13);
    expect(relErr(jacobian(m, m.w0, { structure: 'rows', blockSize: 3 }).data, rows)).toBe(0);
  });

  it('a model that mixes rows is not row-separable: the whole-model path, and rows refused', () => {
    const m = compile(
      `dim n = 4, d = 2
data X : [n, d] = normal(0, 1, seed = 1)
param w : [d] ~ normal(0, 1)
model h = tanh(X @ w) - sum(tanh(X @ w)) / n`,
      'mixed.ntk',
    );
    const J = jacobian(m, m.w0).data;
    expect(relErr(J, jacobian(m, m.w0, { structure: 'dense' }).data)).toBe(0);
    expect(() => jacobian(m, m.w0, { structure: 'rows' })).toThrow(/not row-separable/);
  });
});
