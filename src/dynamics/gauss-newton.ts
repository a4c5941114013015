/**
 * The stiff part the exponential methods of a flow integrate exactly: dδ/dt = A δ + N(t, δ) with
 * A = −J_nᵀJ_n, the Gauss–Newton part of −(1/α²)∇²L at a recent point w_n (w0 first), of rank
 * ≤ k: A = −Q diag(λ) Qᵀ with Q = J_nᵀ V Λ^{-1/2} from the eigenpairs (λ, V) of K_n = J_n J_nᵀ.
 *
 * Only the modes that are stiff at the step sizes in use go into Q: the solver integrates the
 * others explicitly, stably while h·λ stays below ~0.5 (`STABLE_EXPLICIT`). A mode is kept when
 * λ·min(T, HEADROOM·h) > STABLE_EXPLICIT for the step h about to be taken, and Q is re-selected
 * from the same J_n and spectrum (no new Jacobian) as soon as h·λ of a left-out mode passes
 * STABLE_EXPLICIT. Every product with Q costs p·r reads, four of them a step: W2's Q has a
 * median of 9 columns and a mean of 21 (38 when every mode with λ·T > 1/4 was kept).
 */
import type { Evaluator } from '../evaluator/evaluator.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { kernelSpectrum, type KernelSpectrum } from './linearized.ts';
import type { JtVColumns } from './flow-linear.ts';
import type { LowRankOps, LowRankStiff, MethodName } from './solvers/index.ts';

/**
 * The exponential methods leave a mode of the Gauss–Newton part out of Q (to their explicit
 * part) while h·λ ≤ STABLE_EXPLICIT, and choose Q for steps up to HEADROOM times the current
 * one. The explicit part of exponential Adams is stable up to h·λ ≈ 0.5: on y' = −λy + f(t)
 * with no Q, steps limited by stability settle at h·λ ≈ 0.58 whatever λ and rtol (measured,
 * test/dynamics/solvers/etd.test.ts); ETDRK4's explicit part is RK4's, stable to 2.78.
 */
export const STABLE_EXPLICIT = 0.1;
const HEADROOM = 2;

/**
 * A Gauss–Newton part: J_n, its spectrum, and the columns b_j of J_nᵀV when they are at hand
 * (w0: b_j is column col(j) of the linearized flow's matrix, for every mode that can be stiff).
 */
interface GaussNewton { J: Float64Array; sp: KernelSpectrum; JtV?: JtVColumns | null }

export interface GaussNewtonParts {
  /** A fresh `linearPart` for one solve with `method` (its refresh interval is the method's). */
  linearPart(method: MethodName): (t: number, delta: Float64Array, stepsSince: number, h: number) => LowRankStiff;
  /** The Jacobians computed for refreshes so far (all solves). */
  readonly refreshes: number;
  /** Products with Q on the evaluator's backend. */
  ops: LowRankOps;
}

/**
 * The Gauss–Newton parts of a flow to horizon T: at w0 from J0 and its spectrum (and J0ᵀV's
 * columns), later from a new Jacobian at w(t) (`weightsAt(t, δ)` writes w and returns it) every
 * few accepted steps. `adamsOrder` is the exponential Adams method's order (its history's
 * re-projection enters the cost balance).
 * @example const gn = gaussNewtonParts(ev, J0, spectrum, JtV, T, weightsAt, 7); solve('exponential', rhs, 0, y0, T, { lowRank: { linearPart: gn.linearPart('exponential'), ops: gn.ops } })
 */
export function gaussNewtonParts(ev: Evaluator, J0: Float64Array, spectrum: KernelSpectrum, JtV: JtVColumns | null, T: number,
  weightsAt: (t: number, delta: Float64Array) => Float64Array, adamsOrder: number): GaussNewtonParts {
  const k = ev.k, p = ev.p;
  const select = (gn: GaussNewton, h: number, into?: Float64Array): { stiff: LowRankStiff; lambdaOut: number } => {
    const { J, sp, JtV } = gn;
    const lmax = sp.values[k - 1]!;
    const floor = Math.max(1e-12 * lmax, STABLE_EXPLICIT / Math.min(T, HEADROOM * h));
    const keep: number[] = [];
    let lambdaOut = 0;
    for (let j = 0; j < k; j++) {
      if (sp.values[j]! > floor) keep.push(j);
      else lambdaOut = Math.max(lambdaOut, sp.values[j]!);
    }
    const r = keep.length;
    const Q = into ? into.subarray(0, p * r) : new Float64Array(p * r);
    if (JtV && keep.every((j) => JtV.col(j) >= 0)) {
      // the kept columns of B, scaled: one pass over B's rows (a pass per column read it r times)
      const root = keep.map((j) => Math.sqrt(sp.values[j]!)), at = keep.map(JtV.col), ld = JtV.ld;
      for (let i = 0; i < p; i++) for (let jj = 0; jj < r; jj++) Q[i * r + jj] = JtV.B[i * ld + at[jj]!]! / root[jj]!;
    } else {
      // Q = Jᵀ V_keep Λ_keep^{-1/2}: only the kept eigenvectors (p·k·r work, not p·k²)
      const Vs = new Float64Array(k * r);
      keep.forEach((j, jj) => {
        const s = 1 / Math.sqrt(sp.values[j]!);
        for (let i = 0; i < k; i++) Vs[i * r + jj] = sp.vectors[i * k + j]! * s;
      });
      ev.backend.gemm(true, false, p, r, k, 1, J, 0, p, Vs, 0, r, 0, Q, 0, r);
    }
    return { stiff: { Q, rank: r, lambda: Float64Array.from(keep, (j) => sp.values[j]!) }, lambdaOut };
  };
  const gn0: GaussNewton = { J: J0, sp: spectrum, JtV };
  // Refreshing A costs a Jacobian, the kernel J·Jᵀ (2p·k²) and Q (2p·k·r) — and for the Adams
  // method the re-projection of its history (2 products with Qᵀ per stored point). A step of
  // ETDRK4 with step doubling costs about four gradients' worth and a dozen products with Q, one
  // of exponential Adams two gradients and four products. Refreshing every `refreshEvery(m)`
  // steps balances the two (a deterministic count from flop estimates, so that a run is
  // reproducible; measured on W2 the Adams run's time is flat from 10 to 30). The estimate takes
  // r as the modes of K0 that can be stiff within the horizon (λ·T > 1/4).
  const refreshEvery = (m: MethodName) => {
    const r = spectrum.values.filter((l) => l * T > 0.25).length, grad = ev.gradFlops();
    const refresh = (ev.lastJacobian?.flops ?? 0) + 2 * p * k * (k + r) + (m === 'exponential' ? 4 * adamsOrder * p * r : 0);
    const step = m === 'exponential' ? 2 * grad + 8 * p * r : 4 * grad + 24 * p * k;
    return Math.min(64, Math.max(2, Math.round(refresh / step)));
  };
  let refreshes = 0;
  // A refresh writes its Jacobian and its Q into buffers kept for the whole flow (Q alternates
  // between two, the other holding the Q in use): fresh arrays of 8pk bytes each time cost a
  // page fault per 4 KB (W2: 2300 faults a refresh, ~3–5 µs each on this machine's VM).
  let jBuf: Float64Array | null = null;
  const qBufs: Float64Array[] = [];
  const otherQ = (current: LowRankStiff) => {
    if (qBufs.length < 2) qBufs.push(new Float64Array(p * k));
    return qBufs.find((b) => b.buffer !== current.Q.buffer)!;
  };
  /**
   * The stiff part for one solve: asked at t0 and after each accepted step with the next step
   * size h. A new Jacobian every `every` accepted steps; in between, a re-selection of the modes
   * of the current one when h has outgrown it.
   */
  const stiffParts = (every: number) => {
    let gn = gn0, sinceJacobian = 0;
    let current: { stiff: LowRankStiff; lambdaOut: number } | null = null;
    return (t: number, delta: Float64Array, _since: number, h: number): LowRankStiff => {
      if (current === null) return (current = select(gn0, h)).stiff;
      if (++sinceJacobian >= every) {
        const w = weightsAt(t, delta);
        const J = ev.jacobian(w, { out: (jBuf ??= new Float64Array(k * p)) });
        refreshes++;
        sinceJacobian = 0;
        gn = { J, sp: kernelSpectrum(ntkFromJacobian(ev, J), k, ev.backend) };
      } else if (h * current.lambdaOut <= STABLE_EXPLICIT) return current.stiff;
      return (current = select(gn, h, otherQ(current.stiff))).stiff;
    };
  };
  // Products with Q (n × r, memory-bound: Q is read from memory each time). projectMany stacks
  // the vectors as the rows of one matrix, so a history of 2·7 vectors reads Q once, not 14 times.
  let stacked = new Float64Array(0), stackedOut = new Float64Array(0);
  const ops: LowRankOps = {
    combine: ev.backend.combine,
    project: (Q, n, r, v, out) => ev.backend.gemm(true, false, r, 1, n, 1, Q, 0, r, v, 0, 1, 0, out, 0, 1),
    expand: (Q, n, r, c, out) => ev.backend.gemm(false, false, n, 1, r, 1, Q, 0, r, c, 0, 1, 0, out, 0, 1),
    projectMany: (Q, n, r, vs, outs) => {
      const m = vs.length;
      if (stacked.length < m * n) stacked = new Float64Array(m * n);
      if (stackedOut.length < m * r) stackedOut = new Float64Array(m * r);
      vs.forEach((v, j) => stacked.set(v.subarray(0, n), j * n));
      ev.backend.gemm(false, false, m, r, n, 1, stacked, 0, n, Q, 0, r, 0, stackedOut, 0, r);
      outs.forEach((o, j) => o.set(stackedOut.subarray(j * r, (j + 1) * r)));
    },
  };
  return {
    linearPart: (method) => stiffParts(refreshEvery(method)),
    get refreshes() { return refreshes; },
    ops,
  };
}
