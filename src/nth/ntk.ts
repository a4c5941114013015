/**
 * The empirical neural tangent kernel on the model's outputs:
 *   K(w) = Dh(w)·Dh(w)ᵀ ∈ R^{k×k},  K_ab = ⟨∇h_a(w), ∇h_b(w)⟩
 * (MATH.md §1; for a network with one output per data point this is Θ̂(X, X) of §2).
 */
import type { Evaluator } from '../runtime/evaluator.ts';
import { MAX_RESULT_BYTES, MemoryError } from '../runtime/evaluator.ts';

/**
 * K = J·Jᵀ from the Jacobian J (k×p, row-major) with one GEMM, then symmetrized exactly
 * (K_ab and K_ba computed by different summation orders may differ in the last bit).
 * @example const K = ntkFromJacobian(ev, ev.jacobian(model.w0));
 */
export function ntkFromJacobian(ev: Evaluator, J: Float64Array): Float64Array {
  const { k, p } = ev;
  if (k * k * 8 > MAX_RESULT_BYTES) throw new MemoryError(`the kernel has ${k}×${k} entries: too large to hold`);
  const K = new Float64Array(k * k);
  ev.backend.gemm(false, true, k, k, p, 1, J, 0, p, J, 0, p, 0, K, 0, k);
  for (let a = 0; a < k; a++)
    for (let b = a + 1; b < k; b++) {
      const s = 0.5 * (K[a * k + b]! + K[b * k + a]!);
      K[a * k + b] = s;
      K[b * k + a] = s;
    }
  return K;
}

/** The empirical NTK K(w) = Dh(w)·Dh(w)ᵀ, row-major k×k. */
export function ntk(ev: Evaluator, w: Float64Array): Float64Array {
  return ntkFromJacobian(ev, ev.jacobian(w));
}
