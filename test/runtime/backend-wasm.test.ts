/**
 * The WASM SIMD backend beyond the shared kernel suite (test/runtime/kernels.test.ts runs that
 * suite on every backend): the accuracy of the vectorized exp / tanh / sigmoid over dense
 * sweeps and at the IEEE edges, gemm shapes that cross every cache block, the linear memory
 * growing and being shared between calls, and backend selection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { wasmBackend, wasmLimits, wasmUnary } from '../../src/runtime/backend-wasm.ts';
import { availableBackends, backendByName } from '../../src/runtime/backends.ts';
import { jsBackend } from '../../src/runtime/kernels-js.ts';
import { expScalar, sigmoidScalar, tanhScalar } from '../../src/runtime/wasm/scalar.ts';
import { ulpDistance } from '../helpers.ts';

const saved = { ...wasmLimits };
afterEach(() => {
  Object.assign(wasmLimits, saved);
});

/** n points evenly spaced over [lo, hi]. */
function sweep(lo: number, hi: number, n: number): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + ((hi - lo) * i) / (n - 1);
  return x;
}

/** The largest ulp distance between f_wasm(x) and ref(x), and where. */
function worstUlp(f: 'exp' | 'tanh' | 'sigmoid', ref: (x: number) => number, x: Float64Array): { ulp: number; at: number } {
  const out = new Float64Array(x.length);
  wasmUnary()!(f, x, out);
  let ulp = 0, at = NaN;
  for (let i = 0; i < x.length; i++) {
    const d = ulpDistance(out[i]!, ref(x[i]!));
    if (d > ulp) {
      ulp = d;
      at = x[i]!;
    }
  }
  return { ulp, at };
}

/**
 * σ(x) without cancellation: 1/(1 + e^−x) for x ≥ 0, e^x/(1 + e^x) for x < 0 (each within
 * about 2 ulp itself, so the comparison bound below covers both errors).
 */
const sigmoidRef = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

describe('wasm backend availability', () => {
  it('is built and loads here (npm ci / the test setup compile kernels.wat)', () => {
    expect(wasmBackend()).not.toBeNull();
    // native (when its addon is built) comes first; then wasm, then the reference
    expect(availableBackends().filter((n) => n !== 'native')).toEqual(['wasm', 'js']);
    expect(backendByName('wasm')!.name).toBe('wasm');
    expect(backendByName('js')).toBe(jsBackend);
    expect(backendByName('nonesuch')).toBeNull();
  });
});

describe('vectorized exp, tanh, sigmoid', () => {
  const N = 400_001;

  it('exp is within 1 ulp of Math.exp over [−750, 712] and [−1, 1]', () => {
    for (const [lo, hi] of [[-750, 712], [-1, 1], [-1e-3, 1e-3]] as const) {
      const { ulp, at } = worstUlp('exp', Math.exp, sweep(lo, hi, N));
      expect(ulp, `worst at ${at}`).toBeLessThanOrEqual(1);
    }
  });

  it('exp at the edges: overflow, the subnormal range, underflow, ±0, ±∞, NaN', () => {
    const x = Float64Array.of(0, -0, 709.78, 709.7827128933840, 709.79, 1000, -708.39, -709, -720, -745.13, -745.14, -1000,
      Infinity, -Infinity, NaN, 5e-324, -5e-324, 1e-17, -1e-300);
    const out = new Float64Array(x.length);
    wasmUnary()!('exp', x, out);
    for (let i = 0; i < x.length; i++) {
      const want = Math.exp(x[i]!);
      // in the subnormal range an ulp is the absolute 2^−1074, compared the same way
      expect(ulpDistance(out[i]!, want), `exp(${x[i]})`).toBeLessThanOrEqual(1);
    }
    expect(out[0]).toBe(1);
    expect(out[4]).toBe(Infinity);
    expect(out[5]).toBe(Infinity);
    expect(out[9]).toBe(5e-324);
    expect(out[10]).toBe(0);
    expect(out[12]).toBe(Infinity);
    expect(out[13]).toBe(0);
    expect(out[14]).toBeNaN();
  });

  it('tanh is within 2 ulp of Math.tanh, keeping relative accuracy for tiny |x|', () => {
    for (const [lo, hi] of [[-25, 25], [-1.5, 1.5], [-0.01, 0.01], [-1e-8, 1e-8]] as const) {
      const { ulp, at } = worstUlp('tanh', Math.tanh, sweep(lo, hi, N));
      expect(ulp, `worst at ${at} in [${lo}, ${hi}]`).toBeLessThanOrEqual(2);
    }
    // log-spaced tiny and huge magnitudes, both signs
    const x: number[] = [];
    for (let e = -320; e <= 3; e += 0.05) x.push(10 ** e, -(10 ** e));
    const { ulp, at } = worstUlp('tanh', Math.tanh, Float64Array.from(x));
    expect(ulp, `worst at ${at}`).toBeLessThanOrEqual(2);
  });

  it('tanh across its switch of formula at |x| = 0.625: within 2 ulp on both sides, and a lane takes its own formula whatever its neighbour', () => {
    const x: number[] = [];
    for (let i = -2000; i <= 2000; i++) x.push(0.625 + i * 2 ** -40, -(0.625 + i * 2 ** -50));
    const { ulp, at } = worstUlp('tanh', Math.tanh, Float64Array.from(x));
    expect(ulp, `worst at ${at}`).toBeLessThanOrEqual(2);
    // pairs mixing the two sides (and NaN), in both orders: each value as when computed alone
    const mixed = Float64Array.of(0.3, 3, 3, 0.3, -0.624, 0.626, NaN, 0.1, 0.1, NaN, 0.7, -0.7, 0.5, -0.5);
    const both = new Float64Array(mixed.length);
    wasmUnary()!('tanh', mixed, both);
    for (let i = 0; i < mixed.length; i++) {
      const one = new Float64Array(1);
      wasmUnary()!('tanh', mixed.subarray(i, i + 1), one);
      expect(Object.is(one[0], both[i]), `tanh(${mixed[i]})`).toBe(true);
    }
  });

  it('tanh at the edges: ±0 keeps its sign, ±∞ → ±1, |x| ≥ 22 → ±1, NaN', () => {
    const x = Float64Array.of(0, -0, Infinity, -Infinity, 22, -22, 30, 1e300, NaN, 5e-324, -5e-324, 1e-300);
    const out = new Float64Array(x.length);
    wasmUnary()!('tanh', x, out);
    expect(Object.is(out[0], 0)).toBe(true);
    expect(Object.is(out[1], -0)).toBe(true);
    expect(Array.from(out.subarray(2, 8))).toEqual([1, -1, 1, -1, 1, 1]);
    expect(out[8]).toBeNaN();
    expect(Array.from(out.subarray(9))).toEqual([5e-324, -5e-324, 1e-300]);
  });

  it('sigmoid is within 2 ulp of 1/(1 + e^−x) (or e^x/(1 + e^x)) over [−750, 40], with exact limits', () => {
    for (const [lo, hi] of [[-750, 40], [-5, 5], [-1e-6, 1e-6]] as const) {
      const { ulp, at } = worstUlp('sigmoid', sigmoidRef, sweep(lo, hi, N));
      expect(ulp, `worst at ${at}`).toBeLessThanOrEqual(2);
    }
    const x = Float64Array.of(0, -0, Infinity, -Infinity, NaN, 40, -745.2, 800);
    const out = new Float64Array(x.length);
    wasmUnary()!('sigmoid', x, out);
    expect(Array.from(out.subarray(0, 4))).toEqual([0.5, 0.5, 1, 0]);
    expect(out[4]).toBeNaN();
    expect(out[5]).toBe(1); // 1 − 4·10⁻¹⁸ rounds to 1
    expect(out[6]).toBe(0);
    expect(out[7]).toBe(1);
  });

  it('odd lengths: the last element alone gives the same value as inside a pair', () => {
    const x = sweep(-3, 3, 7);
    for (const f of ['exp', 'tanh', 'sigmoid'] as const) {
      const all = new Float64Array(7);
      wasmUnary()!(f, x, all);
      for (let i = 0; i < 7; i++) {
        const one = new Float64Array(1);
        wasmUnary()!(f, x.subarray(i, i + 1), one);
        expect(one[0], `${f}(${x[i]})`).toBe(all[i]);
      }
    }
  });
});

describe('scaledUnary: op(c·x) in one call', () => {
  it('equals the product then the kernel bit for bit, through the twins and through wasm, odd lengths too', () => {
    const be = wasmBackend()!;
    for (const n of [1, 7, 127, 128, 1001]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 9)));
      for (const op of ['exp', 'tanh', 'sin'] as const) {
        for (const c of [16, -0.5, 0, -0]) {
          const got = new Float64Array(n), want = new Float64Array(n);
          be.scaledUnary!(op, c, x, got, n);
          be.binary('mul', Float64Array.of(c), [], x, [n], want, [n]);
          be.unary(op, want, want, n);
          for (let i = 0; i < n; i++) expect(Object.is(got[i], want[i]), `${op}(${c}·${x[i]})`).toBe(true);
        }
      }
    }
  });
});

describe('results do not depend on which kernel a call went to', () => {
  it('the scalar twins of exp, tanh, sigmoid return bit for bit the wasm kernels’ values', () => {
    const x = Float64Array.from([...sweep(-750, 712, 20_001), ...sweep(-2, 2, 20_001), 0, -0, Infinity, -Infinity, NaN, 5e-324, -1e-300, 22, -30]);
    for (const [f, twin] of [['exp', expScalar], ['tanh', tanhScalar], ['sigmoid', sigmoidScalar]] as const) {
      const out = new Float64Array(x.length);
      wasmUnary()!(f, x, out);
      let differ = 0;
      for (let i = 0; i < x.length; i++) if (!Object.is(out[i], twin(x[i]!))) differ++;
      expect(differ, f).toBe(0);
    }
  });

  it('wasm gemm and gemv equal the JS kernels bit for bit (same summation order)', () => {
    Object.assign(wasmLimits, { gemm: 0, gemv: 0 });
    const be = wasmBackend()!;
    let seed = 7;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    for (const [M, N, K] of [[1, 1, 1], [5, 3, 2], [1, 37, 300], [41, 1, 9], [17, 33, 65], [70, 40, 600], [3, 1, 1], [1, 2, 3]] as const) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        for (const beta of [0, 1, 0.3]) {
          const A = Float64Array.from({ length: M * K }, rand);
          const B = Float64Array.from({ length: K * N }, rand);
          const C = Float64Array.from({ length: M * N }, rand);
          const Cj = C.slice();
          be.gemm(tA, tB, M, N, K, 1.1, A, 0, tA ? M : K, B, 0, tB ? K : N, beta, C, 0, N);
          jsBackend.gemm(tA, tB, M, N, K, 1.1, A, 0, tA ? M : K, B, 0, tB ? K : N, beta, Cj, 0, N);
          let differ = 0;
          for (let i = 0; i < C.length; i++) if (C[i] !== Cj[i]) differ++;
          expect(differ, `[${M}×${N}×${K}] ${tA} ${tB} beta ${beta}`).toBe(0);
        }
      }
    }
  });
});

describe('wasm gemm and gemv', () => {
  /** C ← alpha·op(A)·op(B) + beta·C by the triple loop, for row-major dense A, B, C. */
  function naive(tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, A: Float64Array, B: Float64Array, beta: number, C: Float64Array): Float64Array {
    const out = C.slice();
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) s += (tA ? A[p * M + i]! : A[i * K + p]!) * (tB ? B[j * K + p]! : B[p * N + j]!);
        out[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]!);
      }
    }
    return out;
  }

  it('crosses every cache block (M > 64, K > 256, N > 2048) and the edge tiles, all transposes', () => {
    Object.assign(wasmLimits, { gemm: 0, gemv: 0 });
    const be = wasmBackend()!;
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
    for (const [M, N, K] of [[67, 9, 513], [3, 2053, 5], [130, 6, 7]] as const) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const A = Float64Array.from({ length: M * K }, rand);
        const B = Float64Array.from({ length: K * N }, rand);
        const C = Float64Array.from({ length: M * N }, rand);
        const want = naive(tA, tB, M, N, K, 0.75, A, B, 0.5, C);
        be.gemm(tA, tB, M, N, K, 0.75, A, 0, tA ? M : K, B, 0, tB ? K : N, 0.5, C, 0, N);
        for (let i = 0; i < C.length; i++) expect(Math.abs(C[i]! - want[i]!), `[${M}×${N}×${K}] ${tA} ${tB} at ${i}`).toBeLessThan(1e-12);
      }
    }
  });

  it('gemv both ways (N = 1 and M = 1) at the mean-field sizes, against the JS kernels', () => {
    Object.assign(wasmLimits, { gemm: 0, gemv: 0 });
    const be = wasmBackend()!;
    const m = 9216, K = 64;
    const X = Float64Array.from({ length: m * K }, (_, i) => Math.sin(i));
    const v = Float64Array.from({ length: m }, (_, i) => Math.cos(i));
    for (const beta of [0, 1, -0.5]) {
      // y(m) = X(m×K)·v
      const y = Float64Array.from({ length: m }, (_, i) => i % 7), yj = y.slice();
      be.gemm(false, false, m, 1, K, 2, X, 0, K, v, 0, 1, beta, y, 0, 1);
      jsBackend.gemm(false, false, m, 1, K, 2, X, 0, K, v, 0, 1, beta, yj, 0, 1);
      for (let i = 0; i < m; i++) expect(Math.abs(y[i]! - yj[i]!)).toBeLessThan(1e-12);
      // z(1×m) = v(1×K)·X(K×m), X read as K×m
      const z = Float64Array.from({ length: m }, (_, i) => i % 5), zj = z.slice();
      be.gemm(false, false, 1, m, K, 2, v, 0, K, X, 0, m, beta, z, 0, m);
      jsBackend.gemm(false, false, 1, m, K, 2, v, 0, K, X, 0, m, beta, zj, 0, m);
      for (let i = 0; i < m; i++) expect(Math.abs(z[i]! - zj[i]!)).toBeLessThan(1e-12);
    }
  });
});

describe('wasm linear memory', () => {
  it('grows for a large call, is reused by small ones, and is shared with wasmUnary', () => {
    Object.assign(wasmLimits, { gemm: 0, gemv: 0, unary: 0, binary: 0, binaryMax: Infinity });
    const be = wasmBackend()!;
    const unary = wasmUnary()!;
    const small = Float64Array.of(1, 2, 3);
    const outS = new Float64Array(3);
    be.binary('mul', small, [3], small, [3], outS, [3]);
    expect(Array.from(outS)).toEqual([1, 4, 9]);
    // ~16 MB of operands: the memory must grow (detaching every old view of it)
    const n = 1 << 20;
    const big = Float64Array.from({ length: n }, (_, i) => i / n);
    const outB = new Float64Array(n);
    unary('exp', big, outB);
    expect(ulpDistance(outB[n - 1]!, Math.exp(big[n - 1]!))).toBeLessThanOrEqual(1);
    // the backend's own views must notice the growth
    be.binary('add', big, [n], big, [n], outB, [n]);
    expect(outB[12345]).toBe(2 * big[12345]!);
    be.binary('div', small, [3], Float64Array.of(2, 4, 8), [3], outS, [3]);
    expect(Array.from(outS)).toEqual([0.5, 0.5, 0.375]);
  });

  it('delegates what it has no kernel for (broadcasting, pow, sin) to the JS kernels', () => {
    Object.assign(wasmLimits, { gemm: 0, gemv: 0, unary: 0, binary: 0, binaryMax: Infinity });
    const be = wasmBackend()!;
    const out = new Float64Array(6);
    be.binary('add', Float64Array.of(1, 2, 3, 4, 5, 6), [2, 3], Float64Array.of(10, 20, 30), [3], out, [2, 3]);
    expect(Array.from(out)).toEqual([11, 22, 33, 14, 25, 36]);
    be.binary('pow', Float64Array.of(1, 2, 3), [3], Float64Array.of(2, 2, 2), [3], out.subarray(0, 3), [3]);
    expect(Array.from(out.subarray(0, 3))).toEqual([1, 4, 9]);
    const s = new Float64Array(2);
    be.unary('sin', Float64Array.of(0, 1), s, 2);
    expect(Array.from(s)).toEqual([0, Math.sin(1)]);
  });
});
