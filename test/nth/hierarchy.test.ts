/**
 * The kernels of the Neural Tangent Hierarchy against independent computations:
 *  - closed forms on h = a·w + b·w²/2 (every order);
 *  - a brute-force reference from directional derivatives D^j h[·] and Hessian-vector products
 *    of h, assembled by hand from the expansion of K^(3) and K^(4) (no kernel code involved);
 *  - nested central finite differences of K^(2) (and of K^(3)) along ∇h_b with Richardson
 *    extrapolation;
 *  - the graph of `deriveKernel` evaluated at unit vectors; slices against the full tensor; the
 *    symmetric half against the plain Leibniz form.
 */
import { describe, expect, it } from 'vitest';
import { jvp } from '../../src/ad/jvp.ts';
import { splitFlat, vjpFlat } from '../../src/ad/derivatives.ts';
import { compile } from '../../src/ir/load.ts';
import type { Model } from '../../src/ir/model.ts';
import { deriveKernel, deriveRowKernel, kernelHierarchy, kernelTensor, kernelTensor as kernelTensorAny, KernelUsageError, checkKernelMemory, rowsReproduce, testView } from '../../src/nth/hierarchy.ts';
import { readdirSync } from 'node:fs';
import { rowRestriction } from '../../src/ir/rows.ts';
import { loadModel } from '../../src/ir/load.ts';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { MemoryError } from '../../src/runtime/memory.ts';
import { relErr } from '../helpers.ts';

const converse = (a: number, b: number, w0: number) =>
  compile(`const a = ${a}, b = ${b}\nparam w = ${w0}\nmodel h = a * w + b * w^2 / 2`, 'toy.ntk');

/** A 2-hidden-layer tanh MLP in the parametrization of Huang & Yau (MATH.md §3). */
const mlp = (n = 3, d = 2, m = 4, seed = 0) =>
  loadModel('examples/mlp-tanh.ntk', { overrides: new Map([['n', n], ['d', d], ['m', m]]), seed });

/** The mean-field network of Section 2 (sigmoid), small. */
const meanfield = () =>
  compile(
    `dim n = 3, d = 2, m = 5
data X : [n, d] = normal(0, 1, seed = 3)
param a : [m] ~ normal(0, 1)
param U : [m, d] ~ normal(0, 1)
def f(x : [d]) = sum(a * sigmoid(sqrt(m) * (U @ x))) / sqrt(m)
model h = f(X) / sqrt(n)`,
    'mf.ntk',
  );

const at = (K: Float64Array, k: number, idx: number[]) => K[idx.reduce((s, i) => s * k + i, 0)]!;

/** Brute force: K^(3) and K^(4) from D²h, D³h and H_c·v, by the expansion in the module doc. */
function reference(m: Model) {
  const ev = new Evaluator(m);
  const { k, p } = ev;
  const w = m.w0;
  const J = ev.jacobian(w);
  const grad = (a: number) => J.subarray(a * p, (a + 1) * p);
  // H_c·v = D(Dhᵀe_c)[v], a graph built here from the AD primitives.
  const g = m.graph;
  const { u, out } = vjpFlat(m);
  const v = g.fresh('tangent', [p], 'vref');
  const [hv] = jvp(g, [out], new Map(m.params.map((q, i) => [q.node, splitFlat(g, v, m.params)[i]!])));
  const hvPlan = ev.plan('ref-hv', [hv!], [u, v]);
  const H = (c: number, x: Float64Array) => {
    const e = new Float64Array(k);
    e[c] = 1;
    return hvPlan.run(ev.bindings(w, [[u, e], [v, x]]))[0]!;
  };
  const D2 = (x: Float64Array, y: Float64Array) => ev.directional(w, [x, y]);
  const D3 = (x: Float64Array, y: Float64Array, z: Float64Array) => ev.directional(w, [x, y, z]);
  const K3 = (a1: number, a2: number, b: number) => D2(grad(a2), grad(b))[a1]! + D2(grad(a1), grad(b))[a2]!;
  const K4 = (a1: number, a2: number, a3: number, b: number) => {
    let s = 0;
    for (const [a, c] of [[a1, a2], [a2, a1]] as const) {
      s += D3(grad(c), grad(a3), grad(b))[a]!;
      s += D2(H(c, grad(b)), grad(a3))[a]!;
      s += D2(grad(c), H(a3, grad(b)))[a]!;
    }
    return s;
  };
  return { ev, k, p, J, grad, K3, K4 };
}

/** f'(0) by central differences at h, h/2, h/4 and two Richardson steps (error O(h⁶)). */
function richardson(f: (eps: number) => number, h: number): number {
  const D = (e: number) => (f(e) - f(-e)) / (2 * e);
  const d1 = D(h), d2 = D(h / 2), d3 = D(h / 4);
  const r1 = (4 * d2 - d1) / 3, r2 = (4 * d3 - d2) / 3;
  return (16 * r2 - r1) / 15;
}

const shifted = (w: Float64Array, v: Float64Array, eps: number) => w.map((x, i) => x + eps * v[i]!);

describe('closed forms: h = a·w + b·w²/2', () => {
  it('K^(r) = (2b)^(r−2)·(a + b·w)² for r = 2..6', () => {
    for (const [a, b, w0] of [[0.1, 2, 0.3], [1, -0.5, 1.7], [0.25, 3, -2]] as const) {
      const m = converse(a, b, w0);
      const ev = new Evaluator(m);
      const s = a + b * w0;
      for (let r = 2; r <= 6; r++) {
        const K = kernelTensor(ev, r);
        expect(K.shape).toEqual(Array(r).fill(1));
        const exact = (2 * b) ** (r - 2) * s * s;
        expect(Math.abs(K.data[0]! - exact)).toBeLessThanOrEqual(1e-12 * Math.abs(exact));
      }
    }
  });

  it('the derived graph is a function of w alone for one output, and equals the closed form', () => {
    const m = converse(0.1, 2, 0.3);
    const ev = new Evaluator(m);
    for (let r = 2; r <= 5; r++) {
      const d = deriveKernel(m, r);
      const [val] = ev.plan(`derive-${r}`, [d.value]).run(ev.bindings(m.w0));
      const exact = 4 ** (r - 2) * 0.7 ** 2;
      expect(Math.abs(val![0]! - exact)).toBeLessThanOrEqual(1e-12 * exact);
    }
  });
});

describe.each([
  ['tanh MLP (2 hidden layers), one row per index', () => mlp(), 'rows'],
  ['tanh MLP (2 hidden layers), whole model per index', () => mlp(), 'dense'],
  ['mean-field sigmoid network, one row per index', () => meanfield(), 'rows'],
  ['mean-field sigmoid network, whole model per index', () => meanfield(), 'dense'],
] as const)('%s', (_name, make, structure) => {
  const m = make();
  const ref = reference(m);
  const { ev: ev0, k } = ref;
  // Every call below goes through the structure under test.
  const ev = ev0;
  const kernelTensor = (e: Evaluator, r: number, o: Parameters<typeof kernelTensorAny>[2] = {}) => {
    const K = kernelTensorAny(e, r, { structure, ...o });
    if (r > 2) expect(K.structure).toBe(structure);
    return K;
  };

  it('K^(2) equals the NTK J·Jᵀ (exactly on the dense path; the rows path is the structured NTK)', () => {
    const K2 = kernelTensor(ev, 2);
    expect(K2.structure).toBe(structure);
    if (structure === 'dense') expect(Array.from(K2.data)).toEqual(Array.from(ntkFromJacobian(ev, ref.J)));
    else expect(relErr(K2.data, ntkFromJacobian(ev, ref.J))).toBeLessThan(1e-13);
  });

  it('K^(3) agrees with the brute-force reference to 1e-12 and is symmetric in (a1, a2)', () => {
    const K3 = kernelTensor(ev, 3);
    expect(K3.shape).toEqual([k, k, k]);
    const want = new Float64Array(k ** 3);
    for (let a1 = 0; a1 < k; a1++) for (let a2 = 0; a2 < k; a2++) for (let b = 0; b < k; b++) want[(a1 * k + a2) * k + b] = ref.K3(a1, a2, b);
    expect(relErr(K3.data, want)).toBeLessThan(1e-12);
    for (let a1 = 0; a1 < k; a1++) for (let a2 = 0; a2 < k; a2++) for (let b = 0; b < k; b++)
      expect(at(K3.data, k, [a1, a2, b])).toBe(at(K3.data, k, [a2, a1, b]));
    // Not symmetric in the other indices (the test would be vacuous otherwise).
    let asym = 0;
    for (let a1 = 0; a1 < k; a1++) for (let a2 = 0; a2 < k; a2++) for (let b = 0; b < k; b++)
      asym = Math.max(asym, Math.abs(at(K3.data, k, [a1, a2, b]) - at(K3.data, k, [a1, b, a2])));
    expect(asym).toBeGreaterThan(1e-6);
  });

  it('K^(4) agrees with the brute-force reference to 1e-12', () => {
    const K4 = kernelTensor(ev, 4);
    const want = new Float64Array(k ** 4);
    for (let a1 = 0; a1 < k; a1++) for (let a2 = 0; a2 < k; a2++) for (let a3 = 0; a3 < k; a3++) for (let b = 0; b < k; b++)
      want[((a1 * k + a2) * k + a3) * k + b] = ref.K4(a1, a2, a3, b);
    expect(relErr(K4.data, want)).toBeLessThan(1e-12);
  });

  it('K^(3) = d/dε K^(2)(w + ε∇h_b) and K^(4) = d/dε K^(3)(w + ε∇h_b) by Richardson-extrapolated central differences, to 1e-9', () => {
    const w = m.w0;
    const K3 = kernelTensor(ev, 3).data, K4 = kernelTensor(ev, 4).data;
    for (let b = 0; b < k; b++) {
      const gb = ref.grad(b).slice();
      const scale = 1e-2 / Math.max(1e-300, Math.sqrt(gb.reduce((s, x) => s + x * x, 0)));
      // All entries of K^(2)(w + ε g_b) at once; differentiate entrywise.
      const k2 = new Map<number, Float64Array>();
      const K2at = (eps: number) => {
        if (!k2.has(eps)) k2.set(eps, ntkFromJacobian(ev, ev.jacobian(shifted(w, gb, eps))));
        return k2.get(eps)!;
      };
      const k3 = new Map<number, Float64Array>();
      const K3at = (eps: number) => {
        if (!k3.has(eps)) k3.set(eps, kernelTensor(ev, 3, { w: shifted(w, gb, eps) }).data);
        return k3.get(eps)!;
      };
      const fd3 = new Float64Array(k * k), ex3 = new Float64Array(k * k);
      for (let t = 0; t < k * k; t++) {
        fd3[t] = richardson((e) => K2at(e)[t]!, scale);
        ex3[t] = K3[t * k + b]!;
      }
      expect(relErr(fd3, ex3)).toBeLessThan(1e-9);
      const fd4 = new Float64Array(k ** 3), ex4 = new Float64Array(k ** 3);
      for (let t = 0; t < k ** 3; t++) {
        fd4[t] = richardson((e) => K3at(e)[t]!, scale);
        ex4[t] = K4[t * k + b]!;
      }
      expect(relErr(fd4, ex4)).toBeLessThan(1e-9);
    }
  });

  it('the derived graph K^(r)[u1..ur] at unit vectors gives the same entries (r = 3, 4, 5)', () => {
    for (const r of [3, 4, 5]) {
      const K = kernelTensor(ev, r).data;
      const d = deriveKernel(m, r);
      const plan = ev.plan(`derive-test-${r}`, [d.value], d.indices);
      const idx = Array.from({ length: r }, (_, i) => (i * 2 + 1) % k);
      for (const tuple of [idx, idx.map((x) => (x + 1) % k), Array(r).fill(k - 1)]) {
        const extra = d.indices.map((u, i) => {
          const e = new Float64Array(k);
          e[tuple[i]!] = 1;
          return [u, e] as [number, Float64Array];
        });
        const v = plan.run(ev.bindings(m.w0, extra))[0]![0]!;
        const want = at(K, k, tuple);
        expect(Math.abs(v - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
      }
    }
  });

  it('slices, blocks and the plain Leibniz form agree with the symmetric full tensor (r = 3..5)', () => {
    for (const r of [3, 4, 5]) {
      const full = kernelTensor(ev, r);
      const plain = kernelTensor(ev, r, { symmetric: false, blockSize: 1 });
      expect(plain.blocks).toBe(k);
      expect(relErr(plain.data, full.data)).toBeLessThan(1e-13);
      for (let j = 1; j < r; j++) {
        const fixedIdx = Array.from({ length: j }, (_, i) => (i + 1) % k);
        const s = kernelTensor(ev, r, { slice: fixedIdx });
        expect(s.shape).toEqual(Array(r - j).fill(k));
        const offset = fixedIdx.reduce((acc, i) => acc * k + i, 0) * k ** (r - j);
        expect(relErr(s.data, full.data.subarray(offset, offset + k ** (r - j)))).toBeLessThan(1e-13);
      }
    }
  });
});

describe('orders 5 and 6', () => {
  it('K^(5) = d/dε K^(4)(w + ε∇h_b), and the hierarchy returns K^(2..6)', () => {
    const m = mlp(2, 2, 3, 5);
    const ev = new Evaluator(m);
    const k = ev.k;
    const all = kernelHierarchy(ev, 6);
    expect(all.map((K) => K.order)).toEqual([2, 3, 4, 5, 6]);
    const K5 = all[3]!.data;
    const J = ev.jacobian(m.w0);
    for (let b = 0; b < k; b++) {
      const gb = J.slice(b * ev.p, (b + 1) * ev.p);
      const scale = 1e-2 / Math.sqrt(gb.reduce((s, x) => s + x * x, 0));
      const cache = new Map<number, Float64Array>();
      const K4at = (e: number) => {
        if (!cache.has(e)) cache.set(e, kernelTensor(ev, 4, { w: shifted(m.w0, gb, e) }).data);
        return cache.get(e)!;
      };
      const fd = new Float64Array(k ** 4), ex = new Float64Array(k ** 4);
      for (let t = 0; t < k ** 4; t++) {
        fd[t] = richardson((e) => K4at(e)[t]!, scale);
        ex[t] = K5[t * k + b]!;
      }
      expect(relErr(fd, ex)).toBeLessThan(1e-8);
    }
  });
});

describe('row-separable models', () => {
  it('deriveRowKernel: K^(r)(X_1..X_r) at rows a1..ar is the entry K^(r)(a1..ar) (r = 2..4)', () => {
    const m = mlp();
    const ev = new Evaluator(m);
    const X = m.data[0]!;
    expect(deriveRowKernel(converse(0.1, 2, 0.3), 3)).toBeNull(); // one output: not rows
    for (const r of [2, 3, 4]) {
      const K = kernelTensor(ev, r, { structure: 'dense' }).data;
      const d = deriveRowKernel(m, r)!;
      expect(d.dataNames).toEqual(['X']);
      expect(m.graph.attrs(d.rows[1]![0]!).name).toBe('X_2');
      const plan = ev.plan(`row-derive-${r}`, [d.value], d.rows.flat());
      for (const tuple of [Array(r).fill(0), Array.from({ length: r }, (_, i) => (i + 1) % 3), [2, 0, 1, 1].slice(0, r)]) {
        const extra = d.rows.map((ins, i) => [ins[0]!, X.value.subarray(tuple[i]! * 2, tuple[i]! * 2 + 2)] as [number, Float64Array]);
        const v = plan.run(ev.bindings(m.w0, extra))[0]![0]!;
        const want = at(K, 3, tuple);
        expect(Math.abs(v - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
      }
    }
  });

  // The kernels trust ir/rows.ts's structural proof at run time; this is the numerical check of
  // it, on every example model (and on the test outputs where there are some).
  it.each(readdirSync('examples').filter((f) => f.endsWith('.ntk')))('the one-row graph of %s reproduces h(w0) row by row', (file) => {
    const m = loadModel(`examples/${file}`);
    const ev = new Evaluator(m);
    const rm = rowRestriction(m);
    if (rm) expect(rowsReproduce(ev, rm)).toBeLessThan(1e-12);
    if (m.test) {
      const rt = rowRestriction(testView(m));
      if (rt) expect(rowsReproduce(ev, rt, 'test')).toBeLessThan(1e-12);
    }
    // the check can fail: the same one-row graph fed the rows in reverse order does not give h
    // (unless h(w0) vanishes, as for the centered mean-field model, or is rounding, as under the
    // symmetric initialization of examples/early-*.ntk)
    if (rm && ev.output(m.w0).some((v) => Math.abs(v) > 1e-9)) {
      const X = rm.rows[0]!.data;
      const w = X.shape.slice(1).reduce((a, b) => a * b, 1);
      const rev = new Float64Array(X.value.length);
      for (let i = 0; i < rm.n; i++) rev.set(X.value.subarray((rm.n - 1 - i) * w, (rm.n - i) * w), i * w);
      const swapped = { ...rm, rows: [{ ...rm.rows[0]!, data: { ...X, value: rev } }, ...rm.rows.slice(1)] };
      expect(rowsReproduce(ev, swapped)).toBeGreaterThan(1e-6);
    }
  });

  it('the one-row graph reproduces every row of h, and the structures agree on the deep example (stacked weights)', () => {
    const m = loadModel('examples/deep.ntk', { overrides: new Map([['m', 6]]) });
    const rm = rowRestriction(m)!;
    expect(rm).not.toBeNull();
    expect([rm.n, rm.c]).toEqual([8, 1]);
    const ev = new Evaluator(m);
    const rows = kernelTensor(ev, 4, { structure: 'rows' });
    const dense = kernelTensor(ev, 4, { structure: 'dense' });
    expect(rows.structure).toBe('rows');
    expect(relErr(rows.data, dense.data)).toBeLessThan(1e-12);
    expect(kernelTensor(ev, 4).structure).toBe('rows'); // chosen automatically
  });

  it('two outputs per row and two data arrays with rows: rows and dense agree, slices too', () => {
    const m = compile(
      `dim n = 3, d = 2, m = 4
data X : [n, d] = normal(0, 1, seed = 1)
data s : [n] = normal(0, 1, seed = 2)
param W : [m, d] ~ normal(0, 1)
param V : [2, m] ~ normal(0, 1)
def f(x : [d], t) = V @ tanh(W @ x) * t + sin(t) * V[:, 0]
model h = f(X, s)`,
      'two.ntk',
    );
    const rm = rowRestriction(m)!;
    expect([rm.n, rm.c, rm.rows.length]).toEqual([3, 2, 2]);
    const ev = new Evaluator(m);
    for (const r of [3, 4]) {
      const rows = kernelTensor(ev, r, { structure: 'rows' });
      const dense = kernelTensor(ev, r, { structure: 'dense' });
      expect(relErr(rows.data, dense.data)).toBeLessThan(1e-12);
      const sl = kernelTensor(ev, r, { structure: 'rows', slice: [5, 2] });
      const off = (5 * 6 + 2) * 6 ** (r - 2);
      expect(relErr(sl.data, dense.data.subarray(off, off + 6 ** (r - 2)))).toBeLessThan(1e-12);
    }
    // blocks of the last index smaller than k (its towers are then not shared with a1's), r = 2 too
    for (const r of [2, 3, 4]) {
      const dense = kernelTensor(ev, r, { structure: 'dense' });
      for (const blockSize of [2, 6]) expect(relErr(kernelTensor(ev, r, { structure: 'rows', blockSize }).data, dense.data)).toBeLessThan(1e-12);
    }
    const ref = reference(m);
    const K3 = kernelTensor(ev, 3).data;
    for (const [a1, a2, b] of [[0, 5, 3], [4, 1, 1], [2, 2, 5]] as const)
      expect(Math.abs(at(K3, 6, [a1, a2, b]) - ref.K3(a1, a2, b))).toBeLessThan(1e-12 * Math.max(1, Math.abs(ref.K3(a1, a2, b))));
  });

  it.each([
    ['a reduction over the rows', 'model h = f(X) + sum(f(X)) / n'],
    ['a matrix product contracting the rows', 'model h = A @ f(X)'],
    ['a literal with n rows', 'model h = f(X) * [1, 2, 3]'],
    ['a slice of the rows', 'model h = concat0(f(X))'],
  ])('%s is not separable and uses the dense path', (_why, line) => {
    const src = `dim n = 3, d = 2, m = 4
data X : [n, d] = normal(0, 1, seed = 1)
data A : [n, n] = normal(0, 1, seed = 2)
param W : [m, d] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) = dot(a, tanh(W @ x))
def concat0(v : [n]) = v[1:] @ v[1:] + v
${line}`;
    const m = compile(src, 'ns.ntk');
    expect(rowRestriction(m)).toBeNull();
    const ev = new Evaluator(m);
    const K = kernelTensor(ev, 3);
    expect(K.structure).toBe('dense');
    expect(() => kernelTensor(ev, 3, { structure: 'rows' })).toThrow(/not row-separable/);
    // and the dense kernel is still right: K^(3) against d/dε K^(2)(w + ε∇h_b)
    const ref = reference(m);
    const want = new Float64Array(27);
    for (let t = 0; t < 27; t++) want[t] = ref.K3(Math.floor(t / 9), Math.floor(t / 3) % 3, t % 3);
    expect(relErr(K.data, want)).toBeLessThan(1e-12);
  });
});

describe('bad input', () => {
  const m = mlp();
  const ev = new Evaluator(m);
  it('orders below 2 or above 12, and bad slices, are usage errors', () => {
    expect(() => kernelTensor(ev, 1)).toThrow(KernelUsageError);
    expect(() => kernelTensor(ev, 13)).toThrow(KernelUsageError);
    expect(() => kernelTensor(ev, 2.5)).toThrow(KernelUsageError);
    expect(() => kernelTensor(ev, 3, { slice: [0, 1, 2] })).toThrow(/at most 2/);
    expect(() => kernelTensor(ev, 3, { slice: [3] })).toThrow(/0\.\.2/);
  });
  it('a model with relu gets a warning on kernels of order ≥ 3 only', () => {
    const relu = compile('dim n = 3\ndata X : [n] = [0.5, -1, 2]\nparam w : [2] = [0.3, -0.2]\nmodel h = relu(w[0] * X) * w[1] + X * w[0]^2', 'relu.ntk');
    const e = new Evaluator(relu);
    expect(kernelTensor(e, 2).warnings).toEqual([]);
    expect(kernelTensor(e, 3).warnings[0]).toMatch(/zero almost everywhere/);
    expect(kernelTensor(ev, 3).warnings).toEqual([]);
  });
  it('a tensor that does not fit is refused before anything is allocated, naming the slice', () => {
    expect(() => kernelTensor(ev, 6, { memoryBytes: 1000 })).toThrow(MemoryError);
    expect(() => checkKernelMemory(16, 8, 0, 1024 ** 3)).toThrow(/16\^8 = 4\.295e\+9 entries \(32\.0 GB\).*--slice a1,…,a2.*16\^6/);
    expect(() => checkKernelMemory(16, 8, 2, 1024 ** 3)).not.toThrow();
    expect(() => checkKernelMemory(256, 4, 0, 4 * 1024 ** 3)).toThrow(/--slice a1 fixes the first index \(0-based\) and leaves 256\^3 entries \(128\.0 MB\), e\.g\. --slice 0$/);
  });
});
