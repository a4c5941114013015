/**
 * Dense linear algebra on the backend it is given (never on one chosen behind the caller's
 * back): Gram matrices J·Jᵀ by the backend's gemm, symmetric eigendecompositions by its LAPACK
 * where it has one (`Backend.lapack`), else by ml-matrix.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { Backend } from '../runtime/backend.ts';
import { defaultBackend } from '../runtime/backends.ts';
import { MAX_RESULT_BYTES, MemoryError } from '../runtime/memory.ts';

/**
 * K = J·Jᵀ from the Jacobian J (k×p, row-major; or `rows` of its rows): only the blocks on and above the diagonal, by
 * GEMMs over row blocks of J (about half the flops of the full product, k²p + k·b·p for blocks
 * of b rows), the rest mirrored, so K is exactly symmetric.
 * @example const K = ntkFromJacobian(ev, ev.jacobian(model.w0));
 */
export function ntkFromJacobian(ev: { readonly backend: Backend; readonly k: number; readonly p: number }, J: Float64Array, rows: number = ev.k): Float64Array {
  const { p } = ev;
  const k = rows; // J may hold only some rows of Dh (a diagonal tile: Dh_I·Dh_Iᵀ)
  if (k * k * 8 > MAX_RESULT_BYTES) throw new MemoryError(`the kernel has ${k}×${k} entries: too large to hold`);
  const K = new Float64Array(k * k);
  const b = k <= 96 ? k : 64;
  for (let i0 = 0; i0 < k; i0 += b) {
    const bi = Math.min(b, k - i0);
    for (let j0 = i0; j0 < k; j0 += b) {
      const bj = Math.min(b, k - j0);
      ev.backend.gemm(false, true, bi, bj, p, 1, J, i0 * p, p, J, j0 * p, p, 0, K, i0 * k + j0, k);
    }
  }
  // Mirror the upper triangle; within a diagonal block K_ab and K_ba came from different
  // summation orders, so they are averaged first.
  for (let a = 0; a < k; a++)
    for (let c = a + 1; c < k; c++) {
      const sameBlock = Math.floor(a / b) === Math.floor(c / b);
      const s = sameBlock ? 0.5 * (K[a * k + c]! + K[c * k + a]!) : K[a * k + c]!;
      K[a * k + c] = s;
      K[c * k + a] = s;
    }
  return K;
}

/**
 * A = V·diag(values)·Vᵀ: the eigendecomposition `symmetricEigen` returns.
 */
export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as the columns of a k×k row-major matrix. */
  vectors: Float64Array;
}

/**
 * Eigendecomposition of a symmetric k×k matrix (row-major): A = V·diag(values)·Vᵀ with values
 * ascending and V orthogonal, the eigenvector of values[j] in column j. By LAPACK's dsyevd
 * (divide and conquer) when the backend given has it (`Backend.lapack`: the native backend),
 * else by ml-matrix (`symmetricEigenMl`); without a backend, the default one (`NTK_BACKEND`, or
 * the fastest available). Only the upper triangle matters to LAPACK; pass a
 * symmetric matrix. Eigenvectors are determined up to sign (and, for a repeated eigenvalue, up
 * to a rotation within its eigenspace), so the two paths may differ there.
 * @example const { values, vectors } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2); // values [1, 3]
 */
export function symmetricEigen(A: Float64Array, k: number, backend: Backend = defaultBackend()): SymmetricEigen {
  assertFiniteMatrix(A, k);
  const la = backend.lapack;
  if (la && k > 0) return la.dsyevd(k, A);
  return symmetricEigenMl(A, k);
}

/**
 * A matrix with a NaN or ±∞ has no eigendecomposition; LAPACK returns garbage and ml-matrix's
 * QL iteration reads past its arrays ("Cannot read properties of undefined"). Callers check
 * their inputs and report the overflow in their own terms; this is the last guard.
 */
export class NonFiniteMatrixError extends RangeError {}
function assertFiniteMatrix(A: Float64Array, k: number): void {
  for (let i = 0; i < k * k; i++)
    if (!Number.isFinite(A[i]!)) throw new NonFiniteMatrixError(`a ${k}×${k} matrix to decompose has a non-finite entry (${A[i]} at ${Math.floor(i / k)},${i % k}): an overflow upstream`);
}

/**
 * `symmetricEigen` by ml-matrix's symmetric solver (Householder tridiagonalization + QL): the
 * pure-JavaScript path, and the reference the LAPACK path is tested against.
 */
export function symmetricEigenMl(A: Float64Array, k: number): SymmetricEigen {
  assertFiniteMatrix(A, k);
  const M = new Matrix(k, k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) M.set(i, j, A[i * k + j]!);
  const evd = new EigenvalueDecomposition(M, { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const values = Float64Array.from(order, ([v]) => v);
  const V = evd.eigenvectorMatrix;
  const vectors = new Float64Array(k * k);
  order.forEach(([, src], dst) => {
    for (let i = 0; i < k; i++) vectors[i * k + dst] = V.get(i, src);
  });
  return { values, vectors };
}
