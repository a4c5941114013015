/**
 * The empirical neural tangent kernel on the model's outputs:
 *   K(w) = Dh(w)·Dh(w)ᵀ ∈ R^{k×k},  K_ab = ⟨∇h_a(w), ∇h_b(w)⟩
 * (docs/math.md §1; for a network with one output per data point this is Θ̂(X, X) of §2).
 */
import { ntkFromJacobian } from '../linalg/dense.ts';
import { jacobianBlockBytes, type Evaluator } from '../evaluator/evaluator.ts';
import { fmtBytes, MAX_RESULT_BYTES, MemoryError } from '../runtime/memory.ts';
import { gramNtk, gramPreferred } from './gram.ts';
import { memoryLimit } from './memory.ts';

/**
 * The empirical NTK K(w) = Dh(w)·Dh(w)ᵀ, row-major k×k: by Gram products of per-row factors
 * (`nth/gram.ts`, no Jacobian) when the model is row-separable and `gramPreferred` says so, else
 * J·Jᵀ from the Jacobian. The studies that need K(w) and not J call this (the same rule as
 * `kernel` at order 2).
 * @example const K = ntk(evaluator(model), model.w0);   // K[a·k + b] = ⟨∇h_a, ∇h_b⟩
 */
export function ntk(ev: Evaluator, w: Float64Array): Float64Array {
  const limit = memoryLimit();
  if (gramPreferred(ev, limit)) return gramNtk(ev, w, { limit }).data!;
  ensureNtkMemory(ev.k, ev.p, limit, 'fewer outputs or parameters (--set), or raise --max-memory');
  return ntkFromJacobian(ev, ev.jacobian(w));
}

/**
 * The bytes of K = J·Jᵀ from the Jacobian: J (k·p) and K (k²), both held while the product
 * runs, and the Jacobian's blocks while J is computed (`jacobianBlockBytes`).
 * @example denseNtkBytes(4096, 1e6) // ≈ 33 GB: the NTK of W4 never goes through J
 */
export function denseNtkBytes(k: number, p: number): number {
  return 8 * (k * p + k * k) + jacobianBlockBytes(k, p);
}

/**
 * Refuse (MemoryError), before the Jacobian is computed, an NTK from J whose J and K together
 * (`denseNtkBytes`) would not fit `limit` bytes; `fix` says what to do instead.
 * @example ensureNtkMemory(1000, 1e6, 2 ** 30, 'use --structure products') // throws: 8 GB
 */
export function ensureNtkMemory(k: number, p: number, limit: number, fix: string): void {
  const bytes = denseNtkBytes(k, p);
  if (bytes <= limit) return;
  throw new MemoryError(`the NTK from the Jacobian (J: ${k} × ${p}, and K: ${k} × ${k}) needs ${fmtBytes(bytes)}, more than the ${fmtBytes(limit)} available; ${fix}`);
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
