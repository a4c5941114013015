/**
 * The native addon's LAPACK routines and argument checks (its dgemm runs the whole gemm/matmul
 * suite in kernels.test.ts). LAPACK is checked against ml-matrix (an independent JS
 * implementation) and against the defining identities: A·V = V·diag(λ), VᵀV = I for dsyevd;
 * U·diag(s)·Vᵀ = A, UᵀU = I, VᵀV = I for dgesdd. Skipped when the addon is not built.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { nativeAddon, nativeBackend } from '../../src/runtime/backend-native.ts';
import { wasmBackend } from '../../src/runtime/backend-wasm.ts';
import { jsBackend } from '../../src/runtime/kernels-js.ts';
import { tanhScalar } from '../../src/runtime/wasm/scalar.ts';
import { availableBackends, backendByName, defaultBackend } from '../../src/runtime/backends.ts';
import { symmetricEigen, symmetricEigenMl } from '../../src/linalg/dense.ts';
import { lcg, randomArray } from '../helpers.ts';
import { HUGE_MIN_BYTES, zerosF64 } from '../../src/runtime/alloc.ts';

const addon = nativeAddon();

/** C = A·B for row-major A (m×k) and B (k×n), by explicit loops. */
function mul(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const a = A[i * k + p]!;
      for (let j = 0; j < n; j++) C[i * n + j]! += a * B[p * n + j]!;
    }
  return C;
}

function transposeOf(A: ArrayLike<number>, m: number, n: number): Float64Array {
  const T = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = A[i * n + j]!;
  return T;
}

const maxAbs = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]!));
  return s;
};

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]! - b[i]!));
  return s;
}

function expectIdentity(G: Float64Array, n: number, tol: number): void {
  const I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = 1;
  expect(maxDiff(G, I)).toBeLessThan(tol);
}

/** A random symmetric n×n matrix with entries in [−1, 1]. */
function randomSymmetric(rand: () => number, n: number): Float64Array {
  const A = randomArray(rand, n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) A[i * n + j] = A[j * n + i]!;
  return A;
}

/** Q·diag(d)·Qᵀ for a random orthogonal Q (a product of n Householder reflections): eigenvalues exactly d. */
function withSpectrum(rand: () => number, d: number[]): Float64Array {
  const n = d.length;
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Q[i * n + i] = 1;
  for (let r = 0; r < n; r++) {
    const v = randomArray(rand, n);
    const vv = v.reduce((s, x) => s + x * x, 0);
    // Q ← Q·(I − 2vvᵀ/vᵀv)
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += Q[i * n + j]! * v[j]!;
      for (let j = 0; j < n; j++) Q[i * n + j]! -= (2 * s * v[j]!) / vv;
    }
  }
  const QD = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) QD[i * n + j] = Q[i * n + j]! * d[j]!;
  const A = mul(QD, transposeOf(Q, n, n), n, n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) A[i * n + j] = A[j * n + i] = (A[i * n + j]! + A[j * n + i]!) / 2;
  return A;
}

/** Checks A·V = V·diag(λ), VᵀV = I and ascending λ, to tol relative to ‖A‖max·n. */
function checkEigen(A: Float64Array, n: number, values: Float64Array, vectors: Float64Array, tol: number): void {
  expect(values.length).toBe(n);
  expect(vectors.length).toBe(n * n);
  for (let i = 1; i < n; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
  const AV = mul(A, vectors, n, n, n);
  const VL = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) VL[i * n + j] = vectors[i * n + j]! * values[j]!;
  const scale = Math.max(1, maxAbs(A) * n);
  expect(maxDiff(AV, VL) / scale).toBeLessThan(tol);
  expectIdentity(mul(transposeOf(vectors, n, n), vectors, n, n, n), n, tol * n);
}

/** The orthogonal projector onto the span of columns [from, to) of the n×n V. */
function projector(V: Float64Array, n: number, from: number, to: number): Float64Array {
  const P = new Float64Array(n * n);
  for (let c = from; c < to; c++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) P[i * n + j]! += V[i * n + c]! * V[j * n + c]!;
  return P;
}

describe.skipIf(!addon)('native addon: dsyevd', () => {
  const la = addon!;

  it.each([1, 2, 5, 37, 300])('n = %i: A·V = V·diag(λ), VᵀV = I, and the same spectrum as ml-matrix', (n) => {
    const rand = lcg(100 + n);
    const A = randomSymmetric(rand, n);
    const before = A.slice();
    const { values, vectors } = la.dsyevd(n, A);
    expect(A).toEqual(before); // the input is not overwritten
    checkEigen(A, n, values, vectors, 1e-14);
    const ref = symmetricEigenMl(A, n);
    expect(maxDiff(values, ref.values)).toBeLessThan(1e-13 * Math.max(1, maxAbs(ref.values)));
    // Eigenvalues of a random matrix are simple: each eigenvector agrees with ml-matrix's up to sign.
    for (let c = 0; c < n; c++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + c]! * ref.vectors[i * n + c]!;
      const gap = Math.min(c > 0 ? values[c]! - values[c - 1]! : Infinity, c < n - 1 ? values[c + 1]! - values[c]! : Infinity);
      // the eigenvector's error is about ε‖A‖/gap (Davis–Kahan)
      expect(1 - Math.abs(dot)).toBeLessThan(Math.max(1e-12, (1e-13 * n) / gap) ** 2 + 1e-12);
    }
  });

  it('repeated eigenvalues: exact spectrum, orthonormal vectors, the same eigenspaces as ml-matrix', () => {
    const d = [-2, 1, 1, 1, 3, 3, 7, 7, 7, 7, 0, 0];
    const n = d.length;
    const A = withSpectrum(lcg(5), d);
    const { values, vectors } = la.dsyevd(n, A);
    checkEigen(A, n, values, vectors, 1e-14);
    const sorted = d.slice().sort((a, b) => a - b);
    expect(maxDiff(values, sorted)).toBeLessThan(1e-13);
    // Within a repeated eigenvalue the basis is arbitrary; the eigenspace (its projector) is not.
    const ref = symmetricEigenMl(A, n);
    for (let from = 0; from < n; ) {
      let to = from + 1;
      while (to < n && sorted[to] === sorted[from]) to++;
      expect(maxDiff(projector(vectors, n, from, to), projector(ref.vectors, n, from, to))).toBeLessThan(1e-12);
      from = to;
    }
  });

  it('the identity and the zero matrix (every eigenvalue repeated)', () => {
    for (const c of [0, 1]) {
      const n = 6;
      const A = new Float64Array(n * n);
      for (let i = 0; i < n; i++) A[i * n + i] = c;
      const { values, vectors } = la.dsyevd(n, A);
      expect(Array.from(values)).toEqual(new Array(n).fill(c));
      expectIdentity(mul(transposeOf(vectors, n, n), vectors, n, n, n), n, 1e-15);
    }
  });

  it('n = 0 gives empty arrays; a longer array uses its first n² entries; non-finite input gives NaN', () => {
    const e = la.dsyevd(0, new Float64Array(0));
    expect(e.values.length).toBe(0);
    expect(e.vectors.length).toBe(0);
    const long = Float64Array.of(2, 1, 1, 2, 99, 99);
    expect(Array.from(la.dsyevd(2, long).values).map((v) => Math.round(v * 1e12) / 1e12)).toEqual([1, 3]);
    for (const bad of [NaN, Infinity]) {
      const r = la.dsyevd(2, Float64Array.of(1, bad, bad, 1));
      expect(Array.from(r.values).every(Number.isNaN)).toBe(true);
      expect(Array.from(r.vectors).every(Number.isNaN)).toBe(true);
    }
  });
});

describe.skipIf(!addon)('native addon: dgesdd', () => {
  const la = addon!;

  it.each([
    [1, 1], [1, 7], [7, 1], [5, 5], [40, 13], [13, 40], [120, 120],
  ])('%i×%i: U·diag(s)·Vᵀ = A, orthonormal factors, s descending and equal to ml-matrix’s', (m, n) => {
    const rand = lcg(7 * m + n);
    const A = randomArray(rand, m * n);
    const before = A.slice();
    const { s, u, vt } = la.dgesdd(m, n, A);
    expect(A).toEqual(before);
    const k = Math.min(m, n);
    expect([s.length, u.length, vt.length]).toEqual([k, m * k, k * n]);
    for (let i = 0; i < k; i++) {
      expect(s[i]!).toBeGreaterThanOrEqual(0);
      if (i > 0) expect(s[i]!).toBeLessThanOrEqual(s[i - 1]!);
    }
    const US = new Float64Array(m * k);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) US[i * k + j] = u[i * k + j]! * s[j]!;
    expect(maxDiff(mul(US, vt, m, k, n), A)).toBeLessThan(1e-13 * Math.max(m, n));
    expectIdentity(mul(transposeOf(u, m, k), u, k, m, k), k, 1e-13);
    expectIdentity(mul(vt, transposeOf(vt, k, n), k, n, k), k, 1e-13);
    const M = new Matrix(m, n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) M.set(i, j, A[i * n + j]!);
    const ref = new SingularValueDecomposition(M, { autoTranspose: true }).diagonal;
    expect(maxDiff(s, ref.slice(0, k))).toBeLessThan(1e-12);
  });

  it('a rank-deficient matrix has zero singular values; a zero-sized one empty factors', () => {
    // rank 1: the outer product x·yᵀ has the single singular value ‖x‖·‖y‖
    const x = [1, 2, 2], y = [3, 4];
    const A = Float64Array.from(x.flatMap((a) => y.map((b) => a * b)));
    const { s } = la.dgesdd(3, 2, A);
    expect(s[0]).toBeCloseTo(15, 13);
    expect(Math.abs(s[1]!)).toBeLessThan(1e-14);
    const z = la.dgesdd(0, 4, new Float64Array(0));
    expect([z.s.length, z.u.length, z.vt.length]).toEqual([0, 0, 0]);
  });
});

describe.skipIf(!addon)('native addon: argument checks (errors, never a crash or a stray write)', () => {
  const la = addon!;
  const A = Float64Array.of(1, 2, 3, 4), B = Float64Array.of(5, 6, 7, 8);
  const gemmArgs = (over: Record<number, unknown> = {}): unknown[] => {
    const args: unknown[] = [false, false, 2, 2, 2, 1, A, 0, 2, B, 0, 2, 0, new Float64Array(4), 0, 2];
    for (const [i, v] of Object.entries(over)) args[Number(i)] = v;
    return args;
  };
  const call = (args: unknown[]) => (la.dgemm as unknown as (...a: unknown[]) => void)(...args);

  it('a correct call works (the baseline the cases below vary)', () => {
    const C = new Float64Array(4);
    call(gemmArgs({ 13: C }));
    expect(Array.from(C)).toEqual([19, 22, 43, 50]);
  });

  it('wrong argument counts and types throw TypeError', () => {
    expect(() => call([])).toThrow(TypeError);
    expect(() => call(gemmArgs().slice(0, 15))).toThrow(/16 arguments/);
    expect(() => call([...gemmArgs(), 0])).toThrow(TypeError);
    expect(() => call(gemmArgs({ 0: 0 }))).toThrow(/transA must be a boolean/);
    expect(() => call(gemmArgs({ 2: '2' }))).toThrow(/M must be a number/);
    expect(() => call(gemmArgs({ 5: null }))).toThrow(/alpha must be a number/);
    expect(() => call(gemmArgs({ 6: [1, 2, 3, 4] }))).toThrow(/A must be a Float64Array/);
    expect(() => call(gemmArgs({ 9: new Float32Array(4) }))).toThrow(/B must be a Float64Array/);
    expect(() => call(gemmArgs({ 13: new DataView(new ArrayBuffer(32)) }))).toThrow(/C must be a Float64Array/);
    expect(() => (la.dsyevd as unknown as (...a: unknown[]) => void)(2)).toThrow(TypeError);
    expect(() => (la.dsyevd as unknown as (...a: unknown[]) => void)(2, [2, 1, 1, 2])).toThrow(TypeError);
    expect(() => (la.dgesdd as unknown as (...a: unknown[]) => void)(2, 2, new Float32Array(4))).toThrow(TypeError);
  });

  it('negative, fractional or huge sizes, and regions past an array’s end, throw RangeError and write nothing', () => {
    const cases: Record<number, unknown>[] = [
      { 2: -1 }, { 3: 1.5 }, { 4: 2 ** 31 }, { 7: -1 }, { 4: NaN },
      { 7: 1 }, // A at offset 1: needs 5 elements
      { 10: 3 }, // B at offset 3
      { 14: 1 }, // C at offset 1
      { 8: 3 }, // lda 3: needs 5 elements
      { 8: 1 }, // lda < columns
      { 15: 1 }, // ldc < columns
      { 2: 3 }, // M = 3: A and C too short
      { 4: 3 }, // K = 3
      { 0: true, 8: 3 }, // transposed A (2×2 stored) with lda 3
    ];
    for (const over of cases) {
      const C = Float64Array.of(-1, -1, -1, -1);
      expect(() => call(gemmArgs({ ...over, 13: C })), JSON.stringify(over)).toThrow(RangeError);
      expect(Array.from(C)).toEqual([-1, -1, -1, -1]);
    }
    expect(() => la.dsyevd(3, new Float64Array(8))).toThrow(RangeError);
    expect(() => la.dsyevd(-1, new Float64Array(8))).toThrow(RangeError);
    expect(() => la.dgesdd(3, 4, new Float64Array(11))).toThrow(RangeError);
  });

  it('gemv shapes (M = 1 or N = 1) check their strided vectors too', () => {
    // N = 1, op(B) a column of B stored 2×2 (ldb 2): reads B[0], B[2]
    const C = new Float64Array(2);
    call([false, false, 2, 1, 2, 1, A, 0, 2, B, 0, 2, 0, C, 0, 1]);
    expect(Array.from(C)).toEqual([1 * 5 + 2 * 7, 3 * 5 + 4 * 7]);
    expect(() => call([false, false, 2, 1, 2, 1, A, 0, 2, B, 0, 4, 0, C, 0, 1])).toThrow(RangeError);
    // M = 1 with transposed A: op(A)'s row is A's column (stride lda)
    const D = new Float64Array(2);
    call([true, false, 1, 2, 2, 1, A, 0, 2, B, 0, 2, 0, D, 0, 2]);
    expect(Array.from(D)).toEqual([1 * 5 + 3 * 7, 1 * 6 + 3 * 8]);
    expect(() => call([true, false, 1, 2, 2, 1, A, 1, 3, B, 0, 2, 0, D, 0, 2])).toThrow(RangeError);
  });

  it('zero copy: a subarray is read and written through its own byteOffset, nothing outside it', () => {
    const bufA = Float64Array.of(9, 9, 1, 2, 3, 4, 9);
    const bufC = new Float64Array(8).fill(-3);
    const Av = bufA.subarray(2, 6), Cv = bufC.subarray(3, 7);
    la.dgemm(false, false, 2, 2, 2, 1, Av, 0, 2, B, 0, 2, 0, Cv, 0, 2);
    expect(Array.from(bufC)).toEqual([-3, -3, -3, 19, 22, 43, 50, -3]);
    // the view's bounds are its own: offset 1 into a 4-element view is out of bounds even
    // though the underlying buffer has room
    expect(() => la.dgemm(false, false, 2, 2, 2, 1, Av, 1, 2, B, 0, 2, 0, Cv, 0, 2)).toThrow(RangeError);
  });
});

describe.skipIf(!addon)('native addon: tanh, bit for bit the wasm kernel’s algorithm', () => {
  // every exponent band, both sides of 0.625, the clamp at 22, the specials
  const inputs = (): Float64Array => {
    const xs: number[] = [0, -0, 0.625, -0.625, 0.6249999999999999, 0.6250000000000001, 22, -22, 22.000000000000004, 44, 354];
    xs.push(1e300, -1e300, Infinity, -Infinity, NaN, 5e-324, -5e-324, 1e-310, 2 ** -1022);
    const rand = lcg(21);
    for (let e = -40; e <= 8; e++) for (let i = 0; i < 400; i++) xs.push((rand() * 2 - 1) * 2 ** e);
    for (let i = 0; i < 20_000; i++) xs.push((rand() * 2 - 1) * 3);
    return Float64Array.from(xs);
  };
  const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

  it.each([[1], [16], [-0.5], [0]])('tanh(c·x) for c = %s equals tanhScalar(c·x): AVX2 (where present) and the portable path', (c) => {
    const x = inputs();
    for (const portable of [false, true]) {
      const out = new Float64Array(x.length);
      addon!.tanh(x, out, x.length, c, portable);
      let differ = 0;
      for (let i = 0; i < x.length; i++) if (!same(out[i]!, tanhScalar(c * x[i]!))) differ++;
      expect(differ, portable ? 'portable' : 'widest').toBe(0);
    }
  });

  it('odd lengths (the tail lanes), in place, and nothing written past n', () => {
    const x = inputs();
    for (const n of [1, 2, 3, 5, 7, 1003]) {
      const y = x.slice(0, n + 2);
      const guard = y.slice(n);
      addon!.tanh(y, y, n, 1, false);
      for (let i = 0; i < n; i++) expect(same(y[i]!, tanhScalar(x[i]!)), `n = ${n}, i = ${i}`).toBe(true);
      expect(Array.from(y.slice(n))).toEqual(Array.from(guard));
    }
    expect(() => addon!.tanh(new Float64Array(4), new Float64Array(3), 4, 1, false)).toThrow(RangeError);
  });

  it('the native backend’s tanh and scaled tanh give the wasm backend’s values at every size', () => {
    const native = nativeBackend()!, wasm = wasmBackend();
    for (const n of [3, 63, 64, 65, 5000]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 9)));
      for (const c of [1, 16]) {
        const got = new Float64Array(n), want = new Float64Array(n);
        native.scaledUnary!('tanh', c, x, got, n);
        for (let i = 0; i < n; i++) want[i] = tanhScalar(c * x[i]!);
        for (let i = 0; i < n; i++) expect(Object.is(got[i], want[i])).toBe(true);
        if (wasm && c === 1) {
          const w = new Float64Array(n);
          wasm.unary('tanh', x, w, n);
          native.unary('tanh', x, got, n);
          expect(Array.from(got)).toEqual(Array.from(w));
        }
      }
    }
  });
});

describe('selection', () => {
  const saved = process.env.NTK_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.NTK_BACKEND;
    else process.env.NTK_BACKEND = saved;
  });

  it('native is listed first when built, js always; the default is the first unless forced', () => {
    const names = availableBackends();
    expect(names[names.length - 1]).toBe('js');
    expect(names.includes('native')).toBe(addon !== null);
    if (addon) expect(names[0]).toBe('native');
    expect(availableBackends()).toContain(defaultBackend().name);
    if (!saved) expect(defaultBackend().name).toBe(names[0]);
  });

  it('symmetricEigen uses the backend it is given: LAPACK on the native one, ml-matrix on the others, whatever NTK_BACKEND says', () => {
    const A = randomSymmetric(lcg(3), 9);
    const native = backendByName('native');
    expect(native !== null).toBe(addon !== null);
    for (const env of ['js', 'native', undefined]) {
      if (env) process.env.NTK_BACKEND = env;
      else delete process.env.NTK_BACKEND;
      if (native) expect(symmetricEigen(A, 9, native)).toEqual(addon!.dsyevd(9, A));
      expect(symmetricEigen(A, 9, backendByName('js')!)).toEqual(symmetricEigenMl(A, 9));
      const wasm = backendByName('wasm');
      if (wasm) expect(symmetricEigen(A, 9, wasm)).toEqual(symmetricEigenMl(A, 9));
    }
  });

  it.skipIf(!existsSync('dist/ntk.cjs'))('an unavailable NTK_BACKEND is a usage error of the command (exit 2), naming the available ones', () => {
    const r = spawnSync(process.execPath, ['bin/ntk.js', 'eval', 'examples/converse.ntk'], {
      encoding: 'utf8',
      env: { ...process.env, NTK_BACKEND: 'no-such-backend' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`ntk: error: NTK_BACKEND=no-such-backend is not available here (available: ${availableBackends().join(', ')})`);
  });
});

describe.skipIf(!addon)('native addon: combine, bit for bit the JS reference', () => {
  it('both paths (AVX2 where present, two lanes) at every tail length, with and without x', () => {
    const rand = lcg(23);
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 1001]) {
      for (const terms of [1, 2, 5, 9, 64]) {
        for (const withX of [true, false]) {
          const vec = () => Float64Array.from({ length: n }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 11 - 5));
          const x = withX ? vec() : null;
          const w = Float64Array.from({ length: terms }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 5 - 2));
          const v = Array.from({ length: terms }, vec);
          const want = new Float64Array(n);
          jsBackend.combine(want, x, w, v, n);
          for (const portable of [false, true]) {
            const out = new Float64Array(n + 2).fill(NaN);
            addon!.combine(out, x, w, v, n, portable);
            const label = `n = ${n}, ${terms} terms, ${withX ? 'x' : 'no x'}, ${portable ? 'portable' : 'widest'}`;
            expect(Array.from(out.subarray(0, n)), label).toEqual(Array.from(want));
            expect(out[n], label).toBeNaN();
          }
        }
      }
    }
  });

  it('checks its arguments: counts, types, lengths', () => {
    const a = new Float64Array(8), b = new Float64Array(8);
    expect(() => addon!.combine(a, null, Float64Array.of(1, 2), [b], 8, false)).toThrow(RangeError); // weights ≠ vectors
    expect(() => addon!.combine(a, null, new Float64Array(0), [], 8, false)).toThrow(RangeError); // nothing to start from
    expect(() => addon!.combine(a, null, new Float64Array(65), Array.from({ length: 65 }, () => b), 8, false)).toThrow(RangeError);
    expect(() => addon!.combine(a, null, Float64Array.of(1), [new Float64Array(4)], 8, false)).toThrow(RangeError); // short term
    expect(() => addon!.combine(a, new Float64Array(4), Float64Array.of(1), [b], 8, false)).toThrow(RangeError); // short x
    expect(() => addon!.combine(new Float64Array(4), null, Float64Array.of(1), [b], 8, false)).toThrow(RangeError); // short out
    expect(() => addon!.combine(a, null, Float64Array.of(1), [[1, 2] as unknown as Float64Array], 2, false)).toThrow(TypeError);
    expect(() => addon!.combine(a, null, Float64Array.of(1), b as unknown as Float64Array[], 2, false)).toThrow(TypeError);
  });
});

describe.skipIf(!addon?.avx2)('native addon: products with a short inner dimension (K ≤ 16), bitwise the JS gemm', () => {
  it('every transpose, alpha and beta, padded strides and offsets; nothing outside C written', () => {
    const rand = lcg(29);
    const shapes = [[64, 1024, 8], [5, 1000, 3], [33, 130, 1], [256, 512, 16], [2, 4096, 16], [4099, 2, 5], [70, 70, 16]] as const;
    for (const [M, N, K] of shapes)
      for (const tA of [false, true])
        for (const tB of [false, true])
          for (const [alpha, beta] of [[1, 0], [0.7, 0], [1, 1], [-0.3, 0.45]]) {
            const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 5;
            const values = (n: number) => Float64Array.from({ length: n }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 6 - 3));
            const A = values((tA ? K : M) * lda + 4), B = values((tB ? N : K) * ldb + 3);
            const C0 = values(M * ldc + 7);
            if (beta === 0) C0[3] = NaN; // beta = 0 overwrites: garbage in C must not leak
            const got = C0.slice(), want = C0.slice();
            addon!.dgemm(tA, tB, M, N, K, alpha, A, 2, lda, B, 1, ldb, beta, got, 3, ldc);
            jsBackend.gemm(tA, tB, M, N, K, alpha, A, 2, lda, B, 1, ldb, beta, want, 3, ldc);
            let differ = 0;
            for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) differ++;
            expect(differ, `${M}×${N}×${K} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} alpha ${alpha} beta ${beta}`).toBe(0);
          }
  });
});

describe.skipIf(!addon?.adviseHuge)('native addon: adviseHuge (large arrays on transparent huge pages)', () => {
  it('advises the 2 MB-aligned interior of a large array and changes none of its values; refuses what it cannot', () => {
    const x = new Float64Array(3 << 20); // 24 MB: at least one whole aligned 2 MB page inside
    x[0] = 1.5;
    x[x.length - 1] = -2;
    const ok = addon!.adviseHuge!(x);
    expect(typeof ok).toBe('boolean');
    if (process.platform === 'linux') expect(ok).toBe(true);
    expect([x[0], x[1], x[x.length - 2], x[x.length - 1]]).toEqual([1.5, 0, 0, -2]);
    // a fresh advised array reads as zeros and keeps what is written to it
    const y = zerosF64(5_000_000);
    expect(y.length).toBe(5_000_000);
    let nonzero = 0;
    for (let i = 0; i < y.length; i += 4099) nonzero += y[i] !== 0 ? 1 : 0;
    expect(nonzero).toBe(0);
    for (let i = 0; i < y.length; i++) y[i] = i;
    expect([y[0], y[2_500_000], y[4_999_999]]).toEqual([0, 2_500_000, 4_999_999]);
    // under 2 MB there is no whole aligned huge page: nothing to advise
    expect(addon!.adviseHuge!(new Float64Array(1000))).toBe(false);
    expect(() => (addon!.adviseHuge as (x: unknown) => boolean)(new Float32Array(8))).toThrow(TypeError);
    expect(() => (addon!.adviseHuge as (...x: unknown[]) => boolean)()).toThrow(TypeError);
  });

  it('zerosF64 below the threshold is a plain zeroed array', () => {
    const z = zerosF64(10);
    expect(z).toEqual(new Float64Array(10));
    expect(HUGE_MIN_BYTES).toBeGreaterThanOrEqual(2 << 20);
  });
});
