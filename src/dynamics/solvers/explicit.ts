/**
 * Explicit Runge–Kutta methods: a method is an `ExplicitTableau` (data only); one generic
 * stepper runs any of them (Hairer–Nørsett–Wanner I, §II.1–II.6).
 *
 * One step from (t, y) with size h, stages k_0..k_{s−1} (k_0 = f(t, y) is reused from the
 * previous step):
 *     k_i = f(t + c_i h, y + h Σ_{j<i} a_ij k_j),   y_new = y + h Σ_j b_j k_j,
 * then k_s = f(t + h, y_new), which is the next step's k_0 (FSAL for DOPRI5, where it also
 * enters the error estimate; for DOP853 it is evaluated only once the step is accepted).
 * Error: err = RMS_i(h Σ_j e_j k_j,i / sc_i), sc_i = atol + rtol·max(|y_i|, |y_new,i|), or the
 * DOP853 combination when the tableau has `e3`.
 * Dense output (Hairer's form, HNW I §II.6): optional extra stages, then
 *     F0 = Δy, F1 = h k_0 − Δy, F2 = 2Δy − h(k_0 + k_s), F_{3+r} = h Σ_j d_rj k_j,
 *     u(t + θh) = y + θ(F0 + (1−θ)(F1 + θ(F2 + (1−θ)(F3 + …)))),
 * the factors alternating (1−θ), θ, (1−θ), … This Hermite-like frame interpolates y, y_new,
 * f(t, y) and f(t+h, y_new) exactly for any d.
 * Stiffness (HNW II, §IV.2 "Automatic stiffness detection"): ρ = ‖k_s − k_{s−1}‖ /
 * ‖y_new − Y_{s−1}‖ with Y_{s−1} the argument of the last stage (c_{s−1} = 1), so ρ ≈ |λ|max
 * and h·ρ is compared with the method's real stability boundary.
 */
import { allFinite, evalRhs, type Counters, type Fault, type Stepper, type Tolerances } from './driver.ts';
import { lincomb as combine, sparse, type SparseRow } from './kernels.ts';
import type { Rhs } from './types.ts';

export interface ExplicitTableau {
  readonly name: string;
  /** Order p of y_new. */
  readonly order: number;
  /** Order of the embedded solution behind the error estimate. */
  readonly embeddedOrder: number;
  /** Order of the continuous extension (local error O(h^(denseOrder+1)) at every θ). */
  readonly denseOrder: number;
  /** Exponent q of the error estimate (err ∝ h^q) for the controller. */
  readonly errorExponent: number;
  /** Nodes of the s stages; c[0] = 0 and c[s−1] = 1 (the stiffness test relies on it). */
  readonly c: readonly number[];
  /** a[i][j], j < i (a[0] = []). */
  readonly a: readonly (readonly number[])[];
  /** Weights over the s stages. */
  readonly b: readonly number[];
  /** The last stage's row equals b (informative: stage s = f(t+h, y_new) is reused either way). */
  readonly fsal: boolean;
  /** Error weights over stages 0..s−1, or 0..s when the estimate uses k_s = f(t+h, y_new). */
  readonly e: readonly number[];
  /** DOP853 only: weights of the 3rd-order estimator, combined with `e` as in Hairer's DOP853. */
  readonly e3?: readonly number[];
  readonly dense: {
    /** Nodes of extra stages evaluated only on steps with output times. */
    readonly extraC: readonly number[];
    /** Rows over stages 0..s and the previous extra stages. */
    readonly extraA: readonly (readonly number[])[];
    /** Coefficient rows of F3, F4, … over stages 0..s+extra. */
    readonly d: readonly (readonly number[])[];
  };
  /** h·ρ above this counts as stiff (≈ the real stability boundary). */
  readonly stiffnessThreshold: number;
}

export interface ExplicitStepperOptions {
  /** Allocate dense-output buffers (some output time lies strictly inside (t0, T)). */
  dense: boolean;
  /** Compute h·ρ on each accepted step. */
  stiffness: boolean;
}

/**
 * Generic explicit RK stepper on preallocated buffers ((s + 5)·n floats, plus
 * (extra + 3 + d)·n with dense output). A new explicit method is a new `ExplicitTableau`.
 *
 * @example
 *   const counters = { rhsEvals: 0, jvpEvals: 0 }, tol = { rtol: 1e-8, atol: 1e-10 };
 *   const stepper = new ExplicitStepper(DOPRI5, f, y0.length, tol, counters, { dense: false, stiffness: true });
 *   const res = integrate(stepper, f, 0, y0, 1, {}, counters, () => piController());
 */
export class ExplicitStepper implements Stepper {
  readonly n: number;
  readonly errorExponent: number;
  readonly stiffnessThreshold: number | null;
  lastStiffness = NaN;
  readonly note = '';
  y: Float64Array;
  private yNew: Float64Array;
  private readonly s: number;
  private readonly K: Float64Array[];
  private readonly tmp: Float64Array;
  private readonly yLast: Float64Array;
  private readonly errBuf: Float64Array;
  private readonly err3Buf: Float64Array | null;
  private readonly rows: SparseRow[];
  private readonly bRow: SparseRow;
  private readonly eRow: SparseRow;
  private readonly e3Row: SparseRow | null;
  private readonly errUsesNew: boolean;
  private readonly extraRows: SparseRow[];
  private readonly dRows: SparseRow[];
  private readonly F: Float64Array[];
  private fNewReady = false;

  constructor(private readonly tab: ExplicitTableau, private readonly f: Rhs, n: number,
    private readonly tol: Tolerances, private readonly counters: Counters, opts: ExplicitStepperOptions) {
    const s = tab.c.length;
    if (tab.a.length !== s || tab.b.length !== s || tab.c[0] !== 0 || tab.c[s - 1] !== 1) {
      throw new Error(`tableau ${tab.name}: inconsistent sizes or nodes`);
    }
    if (tab.e.length !== s && tab.e.length !== s + 1) throw new Error(`tableau ${tab.name}: e has the wrong length`);
    this.n = n;
    this.s = s;
    this.errorExponent = tab.errorExponent;
    this.stiffnessThreshold = opts.stiffness ? tab.stiffnessThreshold : null;
    this.y = new Float64Array(n);
    this.yNew = new Float64Array(n);
    const nK = s + 1 + (opts.dense ? tab.dense.extraC.length : 0);
    this.K = Array.from({ length: nK }, () => new Float64Array(n));
    this.tmp = new Float64Array(n);
    this.yLast = new Float64Array(n);
    this.errBuf = new Float64Array(n);
    this.err3Buf = tab.e3 ? new Float64Array(n) : null;
    this.rows = tab.a.map(sparse);
    this.bRow = sparse(tab.b);
    this.eRow = sparse(tab.e);
    this.e3Row = tab.e3 ? sparse(tab.e3) : null;
    this.errUsesNew = tab.e.length > s && tab.e[s] !== 0;
    this.extraRows = tab.dense.extraA.map(sparse);
    this.dRows = tab.dense.d.map(sparse);
    this.F = opts.dense ? Array.from({ length: 3 + tab.dense.d.length }, () => new Float64Array(n)) : [];
  }

  get f0(): Float64Array { return this.K[0]!; }

  private eval(t: number, y: Float64Array, out: Float64Array): boolean {
    return evalRhs(this.f, this.counters, t, y, out);
  }

  init(t0: number, y0: Float64Array): Fault | null {
    this.y.set(y0);
    return this.eval(t0, this.y, this.K[0]!) ? null : { time: t0, what: 'f(t, y)' };
  }

  attempt(t: number, h: number): number | Fault {
    const { K, s, tab, y, yNew, n } = this;
    for (let i = 1; i < s; i++) {
      // The last stage's argument is kept for the stiffness test.
      const arg = i === s - 1 ? this.yLast : this.tmp;
      combine(arg, y, h, this.rows[i]!, K);
      const ti = t + tab.c[i]! * h;
      if (!this.eval(ti, arg, K[i]!)) return { time: ti, what: 'f(t, y)' };
    }
    combine(yNew, y, h, this.bRow, K);
    this.fNewReady = false;
    if (this.errUsesNew) {
      if (!allFinite(yNew)) return { time: t + h, what: 'the solution y' };
      if (!this.eval(t + h, yNew, K[s]!)) return { time: t + h, what: 'f(t, y)' };
      this.fNewReady = true;
    }
    const { rtol, atol } = this.tol;
    combine(this.errBuf, null, 1, this.eRow, K);
    const e5 = this.errBuf;
    let err: number;
    if (this.e3Row && this.err3Buf) {
      combine(this.err3Buf, null, 1, this.e3Row, K);
      const e3 = this.err3Buf;
      let s5 = 0, s3 = 0;
      for (let i = 0; i < n; i++) {
        const sc = atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(yNew[i]!));
        const a = e5[i]! / sc, b = e3[i]! / sc; // sc = 0 gives NaN/∞: rejected, see driver
        s5 += a * a; s3 += b * b;
      }
      const den = s5 + 0.01 * s3;
      err = den > 0 ? h * s5 / Math.sqrt(n * den) : 0;
    } else {
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const a = h * e5[i]! / (atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(yNew[i]!)));
        s2 += a * a;
      }
      err = n > 0 ? Math.sqrt(s2 / n) : 0;
    }
    if (!(err < Infinity) && !allFinite(yNew)) return { time: t + h, what: 'the solution y' };
    return err;
  }

  accept(t: number, h: number, needDense: boolean): Fault | null {
    const { K, s, n } = this;
    if (!this.fNewReady) {
      if (!allFinite(this.yNew)) return { time: t + h, what: 'the solution y' };
      if (!this.eval(t + h, this.yNew, K[s]!)) return { time: t + h, what: 'f(t, y)' };
    }
    if (this.stiffnessThreshold !== null) {
      const kn = K[s]!, kl = K[s - 1]!, yn = this.yNew, yl = this.yLast;
      let num = 0, den = 0;
      for (let i = 0; i < n; i++) {
        const a = kn[i]! - kl[i]!, b = yn[i]! - yl[i]!;
        num += a * a; den += b * b;
      }
      this.lastStiffness = den > 0 ? h * Math.sqrt(num / den) : NaN;
    }
    if (needDense && this.F.length > 0) {
      const fault = this.prepareDense(t, h);
      if (fault) return fault;
    }
    // Swap: the old state stays in yNew, where dense() reads it until the next attempt.
    const yOld = this.y;
    this.y = this.yNew;
    this.yNew = yOld;
    const k0 = K[0]!;
    K[0] = K[s]!;
    K[s] = k0;
    return null;
  }

  private prepareDense(t: number, h: number): Fault | null {
    const { K, s, tab, F, y, yNew, n } = this;
    for (let j = 0; j < this.extraRows.length; j++) {
      combine(this.tmp, y, h, this.extraRows[j]!, K);
      const tj = t + tab.dense.extraC[j]! * h;
      if (!this.eval(tj, this.tmp, K[s + 1 + j]!)) return { time: tj, what: 'f(t, y)' };
    }
    const F0 = F[0]!, F1 = F[1]!, F2 = F[2]!, k0 = K[0]!, ks = K[s]!;
    for (let i = 0; i < n; i++) {
      const dy = yNew[i]! - y[i]!;
      F0[i] = dy;
      F1[i] = h * k0[i]! - dy;
      F2[i] = 2 * dy - h * (k0[i]! + ks[i]!);
    }
    for (let r = 0; r < this.dRows.length; r++) combine(F[3 + r]!, null, h, this.dRows[r]!, K);
    return null;
  }

  dense(theta: number, out: Float64Array): void {
    const F = this.F, m = F.length, yOld = this.yNew, n = this.n, u = 1 - theta;
    if (m === 0) throw new Error('internal: dense output was not prepared');
    for (let i = 0; i < n; i++) {
      let v = F[m - 1]![i]!;
      // Multiplier after F_r is (1−θ) for even r, θ for odd r.
      for (let r = m - 2; r >= 0; r--) v = F[r]![i]! + ((r & 1) === 0 ? u : theta) * v;
      out[i] = yOld[i]! + theta * v;
    }
  }
}
