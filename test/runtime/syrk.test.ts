/**
 * `Backend.syrk` (C ← α·op(A)·op(A)ᵀ + β·C on one triangle) on every available backend against
 * the plain reference (`syrkReference`) and against gemm(A, Aᵀ), on odd shapes, strides and
 * offsets: the triangle agrees to rounding, the other strict triangle is never written, β = 0
 * discards what C held (NaN included), and K = 0 or α = 0 scale the triangle by β.
 */
import { describe, expect, it } from 'vitest';
import { availableBackends, backendByName } from '../../src/runtime/backends.ts';
import { jsBackend, mirrorTriangle, syrkReference, syrkWith } from '../../src/runtime/kernels-js.ts';
import { nativeAddon } from '../../src/runtime/backend-native.ts';
import { lcg, randomArray } from '../helpers.ts';

type Case = [n: number, K: number, trans: boolean, alpha: number, beta: number];
const cases: Case[] = [
  [1, 1, false, 1, 0], [2, 3, true, 1, 0], [7, 5, false, 0.5, 0], [13, 1, true, 1, 1],
  [31, 17, false, -1.25, 0.75], [65, 9, true, 2, 0], [97, 130, false, 1, -0.5], [150, 33, true, 1, 1], [200, 64, false, 1, 0],
];

/** A's storage for op(A) n×K with row stride lda (padded), at offset aOff. */
function storage(n: number, K: number, trans: boolean, seed: number) {
  const rows = trans ? K : n, cols = trans ? n : K;
  const lda = cols + 3, aOff = 5;
  const A = randomArray(lcg(seed), aOff + rows * lda);
  return { A, lda, aOff };
}

const backends = availableBackends().map((name) => backendByName(name)!);

describe.each(backends.map((b) => [b.name, b] as const))('syrk on the %s backend', (_name, be) => {
  it.each(cases)('n = %i, K = %i, trans = %s, α = %d, β = %d: the triangle is the reference and gemm(A, Aᵀ), the rest untouched', (n, K, trans, alpha, beta) => {
    const { A, lda, aOff } = storage(n, K, trans, n * 31 + K);
    const ldc = n + 2, cOff = 3;
    const C0 = randomArray(lcg(n + 7), cOff + n * ldc);
    for (const uplo of ['upper', 'lower'] as const) {
      const got = C0.slice(), ref = C0.slice(), full = C0.slice();
      be.syrk(uplo, trans, n, K, alpha, A, aOff, lda, beta, got, cOff, ldc);
      syrkReference(uplo, trans, n, K, alpha, A, aOff, lda, beta, ref, cOff, ldc);
      be.gemm(trans, !trans, n, n, K, alpha, A, aOff, lda, A, aOff, lda, beta, full, cOff, ldc);
      let scale = 0;
      for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
      let offRef = 0, offGemm = 0, touched = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          const at = cOff + i * ldc + j;
          const inTriangle = uplo === 'upper' ? j >= i : j <= i;
          if (inTriangle) {
            offRef = Math.max(offRef, Math.abs(got[at]! - ref[at]!));
            offGemm = Math.max(offGemm, Math.abs(got[at]! - full[at]!));
          } else if (!Object.is(got[at], C0[at])) touched++; // the other triangle: exactly as it was
        }
      expect(offRef).toBeLessThanOrEqual(1e-14 * K * scale);
      expect(offGemm).toBeLessThanOrEqual(1e-14 * K * scale);
      expect(touched).toBe(0);
      // padding between rows and before the offset: never written
      for (let i = 0; i < cOff; i++) if (!Object.is(got[i], C0[i])) touched++;
      for (let i = 0; i < n; i++) for (let j = n; j < ldc && cOff + i * ldc + j < got.length; j++) if (!Object.is(got[cOff + i * ldc + j], C0[cOff + i * ldc + j])) touched++;
      expect(touched).toBe(0);
    }
  });

  it('β = 0 discards NaN in C; K = 0 and α = 0 only scale the triangle by β', () => {
    const n = 70, K = 20;
    const { A, lda, aOff } = storage(n, K, false, 3);
    const C = new Float64Array(n * n).fill(NaN);
    be.syrk('upper', false, n, K, 1, A, aOff, lda, 0, C, 0, n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) expect(Number.isFinite(C[i * n + j]!)).toBe(true);
    const D = randomArray(lcg(9), n * n), E = D.slice();
    be.syrk('lower', false, n, 0, 1, A, aOff, lda, 0.5, D, 0, n);
    be.syrk('lower', false, n, K, 0, A, aOff, lda, 0.5, E, 0, n);
    const F = randomArray(lcg(9), n * n);
    let wrong = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const want = j <= i ? 0.5 * F[i * n + j]! : F[i * n + j]!;
        if (D[i * n + j] !== want || E[i * n + j] !== want) wrong++;
      }
    expect(wrong).toBe(0);
  });

  it('mirrored, the upper triangle of X·Xᵀ is an exactly symmetric Gram matrix', () => {
    const X = Float64Array.of(1, 2, 3, 4, 5, 6); // 3×2
    const G = new Float64Array(9);
    be.syrk('upper', false, 3, 2, 1, X, 0, 2, 0, G, 0, 3);
    mirrorTriangle('upper', 3, G, 0, 3);
    expect(Array.from(G)).toEqual([5, 11, 17, 11, 25, 39, 17, 39, 61]);
  });
});

describe('syrk by blocked gemm (the JS and wasm backends, and the native one without dsyrk)', () => {
  it('agrees with the reference across block boundaries', () => {
    const syrk = syrkWith(jsBackend.gemm);
    for (const n of [63, 64, 65, 129]) {
      const { A, lda, aOff } = storage(n, 11, n % 2 === 1, n);
      const got = new Float64Array(n * n), ref = new Float64Array(n * n);
      syrk('upper', n % 2 === 1, n, 11, 1, A, aOff, lda, 0, got, 0, n);
      syrkReference('upper', n % 2 === 1, n, 11, 1, A, aOff, lda, 0, ref, 0, n);
      for (let i = 0; i < n * n; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(1e-13);
    }
  });
});

const addon = nativeAddon();
describe.skipIf(!addon?.dsyrk)("native addon's dsyrk checks its arguments", () => {
  it('rejects a region outside an array with a RangeError, a wrong type with a TypeError', () => {
    const A = new Float64Array(12), C = new Float64Array(16);
    const call = (...args: unknown[]) => (addon!.dsyrk as unknown as (...a: unknown[]) => void)(...args);
    expect(() => call(true, false, 4, 3, 1, A, 0, 3, 0, C, 0, 4)).not.toThrow();
    expect(() => call(true, false, 4, 3, 1, A, 1, 3, 0, C, 0, 4)).toThrow(RangeError); // A past its end
    expect(() => call(true, false, 4, 3, 1, A, 0, 3, 0, C, 1, 4)).toThrow(RangeError); // C past its end
    expect(() => call(true, false, 4, 3, 1, A, 0, 2, 0, C, 0, 4)).toThrow(RangeError); // lda < K
    expect(() => call('upper', false, 4, 3, 1, A, 0, 3, 0, C, 0, 4)).toThrow(TypeError);
    expect(() => call(true, false, 4, 3, 1, [1, 2], 0, 3, 0, C, 0, 4)).toThrow(TypeError);
    expect(() => call(true, false, 4, 3, 1, A, 0, 3, 0, C, 0)).toThrow(TypeError);
  });
});
