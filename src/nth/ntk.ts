/**
 * The empirical neural tangent kernel on the model's outputs:
 *   K(w) = Dh(w)·Dh(w)ᵀ ∈ R^{k×k},  K_ab = ⟨∇h_a(w), ∇h_b(w)⟩
 * (docs/math.md §1; for a network with one output per data point this is Θ̂(X, X) of §2).
 */
import type { Evaluator } from '../runtime/evaluator.ts';
import { MAX_RESULT_BYTES, MemoryError } from '../runtime/evaluator.ts';

/**
 * K = J·Jᵀ from the Jacobian J (k×p, row-major; or `rows` of its rows): only the blocks on and above the diagonal, by
 * GEMMs over row blocks of J (about half the flops of the full product, k²p + k·b·p for blocks
 * of b rows), the rest mirrored, so K is exactly symmetric.
 * @example const K = ntkFromJacobian(ev, ev.jacobian(model.w0));
 */
export function ntkFromJacobian(ev: Evaluator, J: Float64Array, rows: number = ev.k): Float64Array {
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

/** The empirical NTK K(w) = Dh(w)·Dh(w)ᵀ, row-major k×k. */
export function ntk(ev: Evaluator, w: Float64Array): Float64Array {
  return ntkFromJacobian(ev, ev.jacobian(w));
}

/**
 * The empirical NTK without the Jacobian: column block E of K(w) is Dh·(Dhᵀ·E) for a block of
 * unit vectors E (`Evaluator.ntkProducts`), so memory is one block's B·p values instead of J's
 * k·p. K is symmetric in exact arithmetic; the two rounded halves are averaged.
 * @example const K = ntkByProducts(ev, model.w0);   // = ntk(ev, model.w0) up to rounding
 */
export function ntkByProducts(ev: Evaluator, w: Float64Array, opts: { blockSize?: number } = {}): Float64Array {
  const { k } = ev;
  if (k * k * 8 > MAX_RESULT_BYTES) throw new MemoryError(`the kernel has ${k}×${k} entries: too large to hold`);
  const I = new Float64Array(k * k);
  for (let i = 0; i < k; i++) I[i * k + i] = 1;
  // Row i of the result is K·e_i = column i of K.
  const K = ev.ntkProducts(w, I, opts);
  for (let a = 0; a < k; a++)
    for (let c = a + 1; c < k; c++) {
      const s = 0.5 * (K[a * k + c]! + K[c * k + a]!);
      K[a * k + c] = s;
      K[c * k + a] = s;
    }
  return K;
}
