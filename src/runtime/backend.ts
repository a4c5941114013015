/**
 * The kernel interface of the runtime. A compiled plan calls only these functions, so a faster
 * backend (WASM SIMD, a native BLAS addon) replaces the reference TypeScript kernels without
 * touching any caller: implement `Backend` and register it in `backends.ts`.
 *
 * Conventions for every kernel:
 *  - arrays are float64, row-major (C order), dense, and start at offset 0;
 *  - `out` is preallocated with exactly the output's size and never aliases an input
 *    (except where a kernel says otherwise);
 *  - shapes are passed explicitly; the kernel may assume they were checked by the graph.
 */
import type { BinaryOp, UnaryOp } from '../ir/ops.ts';
import type { FusedKernel, FusedProgram } from './fuse.ts';

/** The dense factorizations of LAPACK a backend may offer (row-major, as the native addon's). */
export interface DenseFactorizations {
  /** A = V·diag(values)·Vᵀ (symmetric n×n; values ascending, eigenvectors in the columns). */
  dsyevd(n: number, A: Float64Array): { values: Float64Array; vectors: Float64Array };
  /** A = U·diag(s)·Vᵀ (m×n; s descending). */
  dgesdd(m: number, n: number, A: Float64Array): { s: Float64Array; u: Float64Array; vt: Float64Array };
}

/**
 * A set of numeric kernels on Float64Arrays (gemm, elementwise ops, reductions, fused loops):
 * 'native' (OpenBLAS), 'wasm' (SIMD) or 'js'. Plans run on one; results agree to rounding.
 */
export interface Backend {
  readonly name: string;

  /**
   * Unary ops this backend computes over a whole array faster than a scalar call per element
   * (a SIMD exp or tanh): elementwise fusion leaves them out of its generated loops, so that
   * they reach `unary`. Absent: none.
   */
  readonly vectorUnary?: ReadonlySet<UnaryOp>;

  /**
   * LAPACK's dense factorizations where the backend has them (the native backend: dsyevd,
   * dgesdd); absent: dense linear algebra (`linalg/dense.ts`) uses its JavaScript path.
   */
  readonly lapack?: DenseFactorizations;

  /**
   * A backend's own kernel for a fused elementwise loop (fuse.ts), called as the generated JS
   * loop would be and bitwise equal to it; null (or absent) where the JS loop is to be used.
   */
  fused?(program: FusedProgram): FusedKernel | null;

  /**
   * out[i] = op(c·x[i]) for i < n, the product rounded first: bitwise `binary('mul')` then
   * `unary`, without the product leaving the backend's memory. For ops in `vectorUnary` only;
   * absent: the compiler runs the two kernels.
   */
  scaledUnary?(op: UnaryOp, c: number, x: Float64Array, out: Float64Array, n: number): void;

  /** out[i] = op(x[i]) for i < n. `x` and `out` may alias. */
  unary(op: UnaryOp, x: Float64Array, out: Float64Array, n: number): void;

  /**
   * out = op(a, b) with numpy broadcasting of `aShape` and `bShape` to `outShape`.
   * `out` may alias `a` or `b` when that operand already has the output's shape.
   */
  binary(
    op: BinaryOp,
    a: Float64Array, aShape: readonly number[],
    b: Float64Array, bShape: readonly number[],
    out: Float64Array, outShape: readonly number[],
  ): void;

  /**
   * Batched matrix product with numpy `matmul` semantics on the batch axes:
   * a: [...batchA, M, K], b: [...batchB, K, N], out: [...broadcast(batchA, batchB), M, N].
   */
  matmul(
    a: Float64Array, aShape: readonly number[],
    b: Float64Array, bShape: readonly number[],
    out: Float64Array, outShape: readonly number[],
  ): void;

  /**
   * The BLAS-style core: C ← alpha·op(A)·op(B) + beta·C, op(X) = X or Xᵀ, with leading
   * dimensions (row strides) lda, ldb, ldc and element offsets into each array.
   * op(A) is M×K, op(B) is K×N, C is M×N.
   */
  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float64Array, aOff: number, lda: number,
    B: Float64Array, bOff: number, ldb: number,
    beta: number, C: Float64Array, cOff: number, ldc: number,
  ): void;

  /**
   * The symmetric rank-K update (BLAS dsyrk), row-major: C ← alpha·op(A)·op(A)ᵀ + beta·C on ONE
   * triangle of the n×n matrix C at cOff (row stride ldc), op(A) = A (n×K at aOff, row stride
   * lda) or, with `trans`, Aᵀ (A stored K×n). Only the triangle `uplo` of C ('upper': entries
   * (i, j) with j ≥ i, 'lower': j ≤ i; the diagonal in both) is read and written; the other
   * strict triangle is left exactly as it was (BLAS's contract: mirror it with
   * `mirrorTriangle` of kernels-js.ts when the whole symmetric matrix is wanted). Half the
   * multiply-adds of gemm(A, Aᵀ): n(n+1)/2·K. With beta = 0 the triangle is not read (NaN in it
   * is discarded); with K = 0 or alpha = 0, A is not read.
   * @example // G = X·Xᵀ of a 3×2 X, upper triangle, then mirrored
   *   be.syrk('upper', false, 3, 2, 1, X, 0, 2, 0, G, 0, 3); mirrorTriangle('upper', 3, G, 0, 3);
   */
  syrk(
    uplo: 'upper' | 'lower', trans: boolean, n: number, K: number, alpha: number,
    A: Float64Array, aOff: number, lda: number,
    beta: number, C: Float64Array, cOff: number, ldc: number,
  ): void;

  /** out = x summed over `axes` (sorted, distinct); out has x's shape without those axes. */
  sum(x: Float64Array, xShape: readonly number[], axes: readonly number[], out: Float64Array): void;

  /** out = x broadcast (numpy rules) to outShape. */
  broadcast(x: Float64Array, xShape: readonly number[], out: Float64Array, outShape: readonly number[]): void;

  /** out[i0..] = x[...] with out axis j = x axis perm[j]. */
  transpose(x: Float64Array, xShape: readonly number[], perm: readonly number[], out: Float64Array): void;

  /** out = x[starts[0]:ends[0], starts[1]:ends[1], …]. */
  slice(x: Float64Array, xShape: readonly number[], starts: readonly number[], ends: readonly number[], out: Float64Array): void;

  /** out = zeros(outShape) with x placed at offset `before` (the transpose of slice). */
  pad(x: Float64Array, xShape: readonly number[], before: readonly number[], out: Float64Array, outShape: readonly number[]): void;

  /** out = the xs joined along `axis` (all of the same rank, equal off that axis). */
  concat(xs: readonly Float64Array[], shapes: readonly (readonly number[])[], axis: number, out: Float64Array): void;

  /**
   * out[i] = ((x[i] + w_0·v_0[i]) + w_1·v_1[i]) + … for i < n (without x: from w_0·v_0[i]),
   * bitwise `combine` of kernels-js.ts; `w` has one weight per vector of `v`. `out` may be x,
   * not one of the v. The solvers' vector sums (a step's combination of past F values).
   */
  combine(out: Float64Array, x: Float64Array | null, w: Float64Array, v: readonly Float64Array[], n: number): void;
}
