/**
 * The optional native backend: OpenBLAS's dgemm and dsyrk, LAPACK's dsyevd / dgesdd (and kernels of its
 * own: products with 2–4 rows or columns in one pass, products with K ≤ 16, the wasm kernel's
 * tanh at AVX2 width, the solvers' vector sums) through the small N-API addon in
 * `native/ntk_native.cc`, built at install by `scripts/build-native.mjs` when libopenblas-dev
 * and liblapacke-dev are present (`build/Release/ntk_native.node`). When the
 * addon is absent, `nativeBackend()` and `nativeAddon()` return null and everything runs on the
 * TypeScript kernels.
 *
 * The addon works on the caller's Float64Arrays in place (zero copy) and checks every argument
 * itself: a wrong type throws a TypeError, a region outside an array a RangeError.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backend.ts';
import type { UnaryOp } from '../ir/ops.ts';
import { jsBackend, matmulWith, syrkWith } from './kernels-js.ts';
import { wasmBackend } from './backend-wasm.ts';
import { tanhScalar } from './wasm/scalar.ts';

/** The addon's exports (see native/ntk_native.cc for each one's contract). */
export interface NativeAddon {
  /**
   * C ← alpha·op(A)·op(B) + beta·C, the arguments of `Backend.gemm`: cblas_dgemm, dgemv when M
   * or N is 1, the addon's own loops for 2–4 rows or columns against a large operand and (with
   * AVX2) for K ≤ 16.
   */
  dgemm: Backend['gemm'];
  /**
   * C ← alpha·op(A)·op(A)ᵀ + beta·C on one triangle (`upper`, else lower) of the n×n C:
   * cblas_dsyrk with `Backend.syrk`'s arguments (the triangle as a boolean). Absent from an
   * addon built before it was added (the backend then uses blocked gemm).
   */
  dsyrk?(upper: boolean, trans: boolean, n: number, K: number, alpha: number, A: Float64Array, aOff: number, lda: number, beta: number, C: Float64Array, cOff: number, ldc: number): void;
  /**
   * Advises the kernel to back the 2 MB-aligned interior of x with transparent huge pages
   * (`alloc.ts`); false where it cannot. Optional: an addon built before it lacks it.
   */
  adviseHuge?(x: Float64Array): boolean;
  /** Symmetric n×n (upper triangle read): values ascending, eigenvectors as the columns of `vectors` (row-major). */
  dsyevd(n: number, A: Float64Array): { values: Float64Array; vectors: Float64Array };
  /** Thin SVD of the m×n row-major A = U·diag(s)·Vᵀ: s descending, u m×k, vt k×n, k = min(m, n). */
  dgesdd(m: number, n: number, A: Float64Array): { s: Float64Array; u: Float64Array; vt: Float64Array };
  /** OpenBLAS's build string (version, target CPU). */
  openblasConfig: string;
  /**
   * Whether the CPU has AVX2, which the addon's own kernels use (tanh, combine at four lanes;
   * products with K ≤ 16 and M·N ≥ 4096 in its own loop, bitwise the JS gemm, only then).
   */
  avx2: boolean;
  /** OpenBLAS's thread count when the addon loaded. */
  threads: number;
  /** Set OpenBLAS's thread count (an integer ≥ 1); returns the count now in effect. */
  setThreads(n: number): number;
  /**
   * out[i] = tanh(c·x[i]) for i < n, the product rounded first: the wasm kernel's algorithm
   * operation for operation (bitwise its values and tanhScalar's), four lanes with AVX2, in
   * place on the arrays; `portable` forces the two-lane path (tests).
   */
  tanh(x: Float64Array, out: Float64Array, n: number, c: number, portable: boolean): void;
  /**
   * out[i] = ((x[i] + w_0·v_0[i]) + w_1·v_1[i]) + … for i < n (x null: from w_0·v_0[i]), all
   * terms in one pass, bitwise `combine` of kernels-js.ts; at most 64 terms; `portable` forces
   * the two-lane path (tests).
   */
  combine(out: Float64Array, x: Float64Array | null, w: Float64Array, v: readonly Float64Array[], n: number, portable: boolean): void;
}

/**
 * Where the compiled addon may be: the repository's build/ seen from src/runtime/ (vitest, tsx)
 * or from dist/ (the esbuild bundle, which inlines this module into dist/ntk.cjs).
 */
function candidatePaths(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const rel = 'build/Release/ntk_native.node';
  // dist/ is one level below the root, src/runtime/ two (src/build/ never exists)
  return [resolve(here, '..', rel), resolve(here, '../..', rel)];
}

let addon: NativeAddon | null | undefined;

/**
 * The loaded addon, or null when it was not built (or fails to load: a missing shared library
 * is not an error, the JS path takes over). Loaded once.
 * @example const blas = nativeAddon(); if (blas) blas.dsyevd(2, Float64Array.of(2, 1, 1, 2)); // values [1, 3]
 */
export function nativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const path = candidatePaths().find((p) => existsSync(p));
  if (path) {
    try {
      addon = createRequire(import.meta.url)(path) as NativeAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/**
 * Below this many multiply-adds (M·N·K) the JS gemm is faster than a call into OpenBLAS, whose
 * fixed cost (argument checks, the CBLAS interface, OpenBLAS's dispatch) is about 1 µs.
 * Measured on the 2-core dev machine: 8³ 0.6 µs JS vs 0.9 µs native, 12³ 2.0 vs 1.3,
 * 16³ 4.2 vs 1.4, 32³ 25 vs 3.6; products of 4096 multiply-adds of any shape (64×8×8,
 * 2×2×1024, 1×64×64 …) 4–30 µs JS vs 1.2–4.6 µs native.
 */
export const NATIVE_GEMM_MIN_WORK = 1024;

/**
 * From this many multiply-adds on, OpenBLAS may use its threads; below, one: the products of a
 * flow's steps (matrix-vector products with p × 64 matrices, the gradient's [64×8]·[8×1024])
 * lose to the hand-off between threads, while W1's 256×512×256 gains (0.51–0.56 s against
 * 0.60–0.62 s with the threshold at 2^27).
 */
export const NATIVE_THREADED_WORK = 1 << 24;

let threadCap = Infinity;

/**
 * At most `n` OpenBLAS threads per product from now on (Infinity: no cap). Set to 1 while other
 * JS threads compute too — the flow's accuracy check on a worker, a sweep's workers — so that
 * each calls single-threaded BLAS and the cores are not oversubscribed: W2 took 4.7–5.2 s so,
 * against 8.0–8.8 s with two BLAS threads under each JS thread (2-core machine).
 * @example capNativeThreads(1); // … products while a worker computes too, then: capNativeThreads(Infinity)
 */
export function capNativeThreads(n: number): void {
  threadCap = n;
}

let backend: Backend | null | undefined;

/**
 * The native backend: gemm by OpenBLAS (tiny products stay in JS, see NATIVE_GEMM_MIN_WORK),
 * matmul's batch logic from the JS backend over that gemm, tanh by the addon, every other kernel
 * from the wasm backend when it loads (its SIMD exp) and the JS one otherwise (BLAS has nothing
 * for elementwise and structural kernels).
 * Null when the addon is not built.
 */
export function nativeBackend(): Backend | null {
  if (backend !== undefined) return backend;
  const blas = nativeAddon();
  if (!blas) return (backend = null);
  const dgemm = blas.dgemm;
  const jsGemm = jsBackend.gemm;
  // OpenBLAS's threads only for large products (see NATIVE_THREADED_WORK).
  const maxThreads = blas.threads;
  let threads = maxThreads;
  const gemm: Backend['gemm'] = (transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc) => {
    const work = M * N * K;
    if (work < NATIVE_GEMM_MIN_WORK) return jsGemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    const want = work >= NATIVE_THREADED_WORK ? Math.max(1, Math.min(maxThreads, threadCap)) : 1;
    if (want !== threads) threads = blas.setThreads(want);
    dgemm(transA, transB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
  };
  // The symmetric rank-K update by OpenBLAS's dsyrk (half of gemm(A, Aᵀ)'s work, n(n+1)/2·K
  // multiply-adds, counted for the thresholds above); tiny ones, or an addon without dsyrk,
  // by blocked gemm (syrkWith).
  const blockedSyrk = syrkWith(gemm);
  const dsyrk = blas.dsyrk?.bind(blas);
  const syrk: Backend['syrk'] = (uplo, trans, n, K, alpha, A, aOff, lda, beta, C, cOff, ldc) => {
    const work = (n * (n + 1) * K) / 2;
    if (!dsyrk || work < NATIVE_GEMM_MIN_WORK) return blockedSyrk(uplo, trans, n, K, alpha, A, aOff, lda, beta, C, cOff, ldc);
    const want = work >= NATIVE_THREADED_WORK ? Math.max(1, Math.min(maxThreads, threadCap)) : 1;
    if (want !== threads) threads = blas.setThreads(want);
    dsyrk(uplo === 'upper', trans, n, K, alpha, A, aOff, lda, beta, C, cOff, ldc);
  };
  // BLAS for the products; tanh in the addon (the wasm kernel's arithmetic at twice its width,
  // on the arrays in place: W2's gradient's 64k-element tanh 159 against 362 µs through wasm,
  // copies included); every other kernel from the best of the rest (wasm's SIMD exp and elementwise
  // arithmetic where it loads, else the JS reference). Tiny calls keep the rest's path (the
  // scalar twin: the same bits without a native call's overhead, whether or not wasm loads).
  const rest = wasmBackend() ?? jsBackend;
  const tanh = (c: number, x: Float64Array, out: Float64Array, n: number) => {
    if (n >= NATIVE_TANH_MIN) return blas.tanh(x, out, n, c, false);
    for (let i = 0; i < n; i++) out[i] = tanhScalar(c * x[i]!);
  };
  const unary: Backend['unary'] = (op, x, out, n) => (op === 'tanh' ? tanh(1, x, out, n) : rest.unary(op, x, out, n));
  // only ops in vectorUnary reach it: tanh, or the rest's own (wasm's exp, with its scaledUnary)
  const scaledUnary: NonNullable<Backend['scaledUnary']> = (op, c, x, out, n) =>
    op === 'tanh' ? tanh(c, x, out, n) : rest.scaledUnary!(op, c, x, out, n);
  const vectorUnary = new Set<UnaryOp>([...(rest.vectorUnary ?? []), 'tanh']);
  // The solvers' vector sums in one AVX2 pass over all terms, on the arrays in place (W2's
  // nine-term sums of 9216 values: 102 µs in JS; the native figures in docs/decisions.md).
  const combine: Backend['combine'] = (out, x, w, v, n) =>
    n >= NATIVE_COMBINE_MIN && w.length <= 64 ? blas.combine(out, x, w, v, n, false) : jsBackend.combine(out, x, w, v, n);
  const lapack = { dsyevd: blas.dsyevd.bind(blas), dgesdd: blas.dgesdd.bind(blas) };
  backend = { ...rest, name: 'native', gemm, syrk, matmul: matmulWith(gemm), unary, scaledUnary, vectorUnary, combine, lapack };
  return backend;
}

/** Below this many elements tanh stays on the rest's path (the scalar twin, same bits). */
const NATIVE_TANH_MIN = 64;

/** Below this many elements `combine` stays in JS (the same bits without a native call). */
const NATIVE_COMBINE_MIN = 256;
