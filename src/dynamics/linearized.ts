/**
 * The linearized flow in closed form, for the square loss R(v) = ½‖v − y*‖² (docs/math.md §1–2).
 *
 * With h̄(w) = h(w0) + J0 (w − w0), J0 = Dh(w0), K0 = J0 J0ᵀ = V Λ Vᵀ and the residual
 * r̄ = y* − α h̄(w̄), the rescaled flow dw̄/dt = (1/α) J0ᵀ r̄ gives
 *
 *   r̄(t) = exp(−K0 t) r0                     = V e^{−Λt} Vᵀ r0,
 *   w̄(t) = w0 + (1/α) J0ᵀ c(t),  c(t) = ∫₀ᵗ r̄(s) ds = V φ_t(Λ) Vᵀ r0,  φ_t(λ) = (1 − e^{−λt})/λ
 *
 * (Lee et al. 2019, eqs. 15 and 18 with η = 1; φ_t(0) = t, so a singular K0 needs no inverse).
 * φ is evaluated as −expm1(−λt)/λ, accurate for every λt ≥ 0.
 */
import { symmetricEigen } from '../linalg/dense.ts';
import type { Backend } from '../runtime/backend.ts';

/**
 * The NTK's eigendecomposition K0 = V diag(λ) Vᵀ with round-off negatives clipped to 0
 * (`kernelSpectrum`), and whether K0 was found indefinite beyond round-off.
 */
export interface KernelSpectrum {
  /** Eigenvalues of K0 after clipping round-off negatives to 0. */
  values: Float64Array;
  vectors: Float64Array;
  /** The most negative eigenvalue before clipping (0 if none). */
  minRaw: number;
  /** How many eigenvalues were clipped. */
  clipped: number;
  /** True when a negative eigenvalue is beyond round-off: K0 is not a Gram matrix. */
  indefinite: boolean;
}

/**
 * The spectrum of the NTK, with eigenvalues below 0 by round-off clipped to 0. A Gram matrix
 * J Jᵀ is positive semi-definite; negative eigenvalues of size ≳ k·ε·λmax are round-off.
 * @example const { values, clipped } = kernelSpectrum(ntk(model).data, k)   // λ ascending, ≥ 0
 */
export function kernelSpectrum(K: Float64Array, k: number, backend?: Backend): KernelSpectrum {
  const { values, vectors } = symmetricEigen(K, k, backend);
  const lmax = Math.max(0, values[k - 1] ?? 0);
  const tol = 64 * k * Number.EPSILON * Math.max(lmax, Number.MIN_VALUE);
  let minRaw = 0, clipped = 0;
  for (let i = 0; i < k; i++) {
    if (values[i]! < 0) {
      minRaw = Math.min(minRaw, values[i]!);
      values[i] = 0;
      clipped++;
    }
  }
  return { values, vectors, minRaw, clipped, indefinite: -minRaw > tol };
}

/**
 * The closed-form linearized flow for one α and r0 = y* − α h(w0).
 *
 * Through K0 = V diag(λ) Vᵀ: r̄(t) = V exp(−λt) Vᵀ r0, and its integral c(t) = V φ_t(λ) Vᵀ r0
 * with φ_t(λ) = (1 − exp(−λt))/λ (t for λ = 0, so a singular K0 needs no inverse).
 * @example new LinearizedFlow(kernelSpectrum(ntk(model).data, k), r0).residual(1)   // r̄(1) = exp(−K0) r0
 */
export class LinearizedFlow {
  readonly k: number;
  readonly spectrum: KernelSpectrum;
  /** q = Vᵀ r0: the initial residual in the eigenbasis of K0. */
  readonly eigenCoordinates: Float64Array;

  constructor(spectrum: KernelSpectrum, r0: Float64Array) {
    this.k = r0.length;
    this.spectrum = spectrum;
    const { vectors: V } = spectrum;
    const k = this.k;
    this.eigenCoordinates = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += V[i * k + j]! * r0[i]!;
      this.eigenCoordinates[j] = s;
    }
  }

  /** f(K0)·r0 = V diag(f(λ_j)) Vᵀ r0, written into `out`. */
  apply(f: (lambda: number) => number, out = new Float64Array(this.k)): Float64Array {
    const { values, vectors: V } = this.spectrum;
    const k = this.k;
    const coef = new Float64Array(k);
    for (let j = 0; j < k; j++) coef[j] = f(values[j]!) * this.eigenCoordinates[j]!;
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += V[i * k + j]! * coef[j]!;
      out[i] = s;
    }
    return out;
  }

  /** r̄(t) = exp(−K0 t) r0. */
  residual(t: number, out = new Float64Array(this.k)): Float64Array {
    return this.apply((l) => Math.exp(-l * t), out);
  }

  /** c(t) = ∫₀ᵗ r̄(s) ds, so that w̄(t) = w0 + (1/α) J0ᵀ c(t). */
  integral(t: number, out = new Float64Array(this.k)): Float64Array {
    return this.apply((l) => (l === 0 ? t : -Math.expm1(-l * t) / l), out);
  }
}
