/**
 * Matrix-free Rosenbrock methods for stiff problems (Hairer–Wanner II, §IV.7), with the stage
 * systems solved by restarted GMRES on Jacobian-vector products.
 *
 * The form of Hairer's `rodas.f` (HW II §IV.7; stage increments k_i include the factor h): with
 * J = ∂f/∂y(t, y) and f_t = ∂f/∂t(t, y) at the start of the step,
 *     (I/(γh) − J) k_i = f(t + c_i h, y + Σ_{j<i} a_ij k_j) + h·d_i·f_t + (1/h) Σ_{j<i} C_ij k_j,
 *     y_new = y + Σ m_i k_i,   err = RMS_i(Σ e_i k_i / sc_i),
 * i.e. k_i = γh (I − γhJ)⁻¹ (right-hand side): each stage is one GMRES solve with the operator
 * v ↦ v − γh·J v. The Jacobian must be exact for the order (a Rosenbrock, not a W-method), so
 * GMRES runs until ‖r‖₂ ≤ tol·‖sc‖₂ (sc_i = atol + rtol·|y_i|, tol 1e-3 by default): the
 * linear-solve error stays a small fraction of the local error tolerance. A GMRES failure
 * rejects the step (a smaller h makes I − γhJ better conditioned).
 * f_t: exact (`dfdt`), skipped (`autonomous`), or (−3f(t) + 4f(t+δ) − f(t+2δ))/(2δ) with
 * δ = ε^(1/3)·max(1, |t|), a second-order difference that looks only forward in time.
 * f(t+h, y_new) is evaluated after each accepted step and reused as the next first stage.
 */
import { allFinite, evalRhs, type Counters, type Fault, type Stepper, type Tolerances } from './driver.ts';
import { lincomb, sparse, type SparseRow } from './kernels.ts';
import { Gmres, type LinearOperator } from './gmres.ts';
import type { KrylovOptions, Rhs, RhsDt, RhsJvp } from './types.ts';

export interface RosenbrockTableau {
  readonly name: string;
  readonly order: number;
  readonly embeddedOrder: number;
  readonly denseOrder: number;
  /** Exponent q of the error estimate (err ∝ h^q). */
  readonly errorExponent: number;
  readonly gamma: number;
  /** Stage nodes c_i (HW's α_i). */
  readonly c: readonly number[];
  /** Coefficients d_i = Σ_j γ_ij of h·f_t (HW's γ_i). */
  readonly d: readonly number[];
  /** a[i][j], j < i: stage arguments y + Σ a_ij k_j. */
  readonly a: readonly (readonly number[])[];
  /** C[i][j], j < i: the (1/h) Σ C_ij k_j coupling. */
  readonly C: readonly (readonly number[])[];
  /** Solution weights. */
  readonly m: readonly number[];
  /** Error weights (y_new − ŷ_new). */
  readonly e: readonly number[];
  /** Dense output rows D0, D1: u(θ) = (1−θ) y + θ (y_new + (1−θ)(D0 + θ D1)), D_r = Σ_j dense_rj k_j. */
  readonly dense: readonly [readonly number[], readonly number[]];
}

const a51 = 0.1221224509226641e1, a52 = 0.6019134481288629e1, a53 = 0.1253708332932087e2,
  a54 = -0.6878860361058950;

/**
 * RODAS4 (Hairer & Wanner, Solving ODEs II, 2nd ed. 1996, §IV.7 and §VI.4; coefficients of
 * `rodas.f`, METH = 1, transcribed digit for digit): 6 stages, order 4,
 * embedded order 3, L-stable and stiffly accurate (y_new is the argument of the last stage
 * plus k_6; the error estimate is k_6 itself), dense output of order 3.
 */
export const RODAS4: RosenbrockTableau = {
  name: 'rodas4',
  order: 4,
  embeddedOrder: 3,
  denseOrder: 3,
  errorExponent: 4,
  gamma: 0.25,
  c: [0, 0.386, 0.21, 0.63, 1, 1],
  d: [0.25, -0.1043, 0.1035, -0.3620000000000023e-1, 0, 0],
  a: [
    [],
    [0.1544e1],
    [0.9466785280815826, 0.2557011698983284],
    [0.3314825187068521e1, 0.2896124015972201e1, 0.9986419139977817],
    [a51, a52, a53, a54],
    [a51, a52, a53, a54, 1],
  ],
  C: [
    [],
    [-0.56688e1],
    [-0.2430093356833875e1, -0.2063599157091915],
    [-0.1073529058151375, -0.9594562251023355e1, -0.2047028614809616e2],
    [0.7496443313967647e1, -0.1024680431464352e2, -0.3399990352819905e2, 0.1170890893206160e2],
    [0.8083246795921522e1, -0.7981132988064893e1, -0.3152159432874371e2, 0.1631930543123136e2,
      -0.6058818238834054e1],
  ],
  m: [a51, a52, a53, a54, 1, 1],
  e: [0, 0, 0, 0, 0, 1],
  dense: [
    [0.1012623508344586e2, -0.7487995877610167e1, -0.3480091861555747e2, -0.7992771707568823e1,
      0.1025137723295662e1, 0],
    [-0.6762803392801253, 0.6087714651680015e1, 0.1643084320892478e2, 0.2476722511418386e2,
      -0.6594389125716872e1, 0],
  ],
};

export interface RosenbrockStepperOptions {
  jvp: RhsJvp;
  dense: boolean;
  autonomous: boolean;
  dfdt?: RhsDt;
  krylov?: KrylovOptions;
  /** Fixed-step mode: an unconverged GMRES solve does not reject the step. */
  fixed: boolean;
}

/**
 * Stepper for a `RosenbrockTableau`: (s + 6)·n floats (+2n with dense output) plus GMRES's
 * (restart + 2)·n; for RODAS4 with the default restart 20, 34n–36n (≈ 290 MB at n = 10⁶).
 *
 * @example
 *   const counters = { rhsEvals: 0, jvpEvals: 0 }, tol = { rtol: 1e-6, atol: 1e-9 };
 *   const stepper = new RosenbrockStepper(RODAS4, f, n, tol, counters, { jvp, dense: false, autonomous: true, fixed: false });
 *   const res = integrate(stepper, f, 0, y0, 100, {}, counters, () => piController({ facMax: 6 }));
 */
export class RosenbrockStepper implements Stepper {
  readonly n: number;
  readonly errorExponent: number;
  readonly stiffnessThreshold = null;
  readonly lastStiffness = NaN;
  note = '';
  y: Float64Array;
  private yNew: Float64Array;
  readonly f0: Float64Array;
  private readonly ft: Float64Array | null;
  private ftReady = false;
  private readonly k: Float64Array[];
  private readonly tmp: Float64Array;
  private readonly rhs: Float64Array;
  private readonly D: Float64Array[];
  private readonly gmres: Gmres;
  private readonly maxProducts: number;
  private readonly krylovTol: number;
  private readonly apply: LinearOperator;
  private readonly aRows: SparseRow[];
  private readonly cRows: SparseRow[];
  private readonly mRow: SparseRow;
  private readonly eRow: SparseRow;
  private readonly dRows: SparseRow[];
  private tJ = 0;
  private gammaH = 0;

  constructor(private readonly tab: RosenbrockTableau, private readonly f: Rhs, n: number,
    private readonly tol: Tolerances, private readonly counters: Counters, private readonly opts: RosenbrockStepperOptions) {
    const s = tab.c.length;
    if (tab.a.length !== s || tab.C.length !== s || tab.d.length !== s || tab.m.length !== s || tab.e.length !== s) {
      throw new Error(`tableau ${tab.name}: inconsistent sizes`);
    }
    this.n = n;
    this.errorExponent = tab.errorExponent;
    this.y = new Float64Array(n);
    this.yNew = new Float64Array(n);
    this.f0 = new Float64Array(n);
    this.ft = opts.autonomous ? null : new Float64Array(n);
    this.k = Array.from({ length: s }, () => new Float64Array(n));
    this.tmp = new Float64Array(n);
    this.rhs = new Float64Array(n);
    this.D = opts.dense ? [new Float64Array(n), new Float64Array(n)] : [];
    this.aRows = tab.a.map(sparse);
    this.cRows = tab.C.map(sparse);
    this.mRow = sparse(tab.m);
    this.eRow = sparse(tab.e);
    this.dRows = tab.dense.map(sparse);
    const restart = opts.krylov?.restart ?? 20;
    if (!(restart >= 1)) throw new RangeError(`krylov.restart must be ≥ 1 (got ${restart})`);
    this.gmres = new Gmres(n, restart);
    this.maxProducts = opts.krylov?.maxIters ?? 10 * this.gmres.restart + 10;
    this.krylovTol = opts.krylov?.tol ?? 1e-3;
    const jvp = opts.jvp;
    // Created once: v ↦ v − γh·J(t, y) v at the current step's start (t, y).
    this.apply = (v, out) => {
      this.counters.jvpEvals++;
      jvp(this.tJ, this.y, v, out);
      const gh = this.gammaH;
      for (let i = 0; i < v.length; i++) out[i] = v[i]! - gh * out[i]!;
    };
  }

  private eval(t: number, y: Float64Array, out: Float64Array): boolean {
    return evalRhs(this.f, this.counters, t, y, out);
  }

  init(t0: number, y0: Float64Array): Fault | null {
    this.y.set(y0);
    return this.eval(t0, this.y, this.f0) ? null : { time: t0, what: 'f(t, y)' };
  }

  private timeDerivative(t: number): Fault | null {
    const ft = this.ft!;
    if (this.opts.dfdt) {
      this.opts.dfdt(t, this.y, ft);
      return allFinite(ft) ? null : { time: t, what: '∂f/∂t' };
    }
    const t1 = t + 6.0554544523933395e-6 * Math.max(1, Math.abs(t)); // ε^(1/3)
    const d = t1 - t; // the representable increment
    const f1 = this.tmp, f2 = this.rhs, f0 = this.f0;
    if (!this.eval(t1, this.y, f1)) return { time: t1, what: 'f(t, y)' };
    if (!this.eval(t + 2 * d, this.y, f2)) return { time: t + 2 * d, what: 'f(t, y)' };
    const inv = 1 / (2 * d);
    for (let i = 0; i < this.n; i++) ft[i] = (4 * f1[i]! - 3 * f0[i]! - f2[i]!) * inv;
    return null;
  }

  attempt(t: number, h: number): number | Fault {
    const { tab, k, y, yNew, tmp, rhs, n } = this;
    const { rtol, atol } = this.tol;
    this.note = '';
    if (this.ft && !this.ftReady) {
      const fault = this.timeDerivative(t);
      if (fault) return fault;
      this.ftReady = true;
    }
    this.tJ = t;
    this.gammaH = tab.gamma * h;
    let scn = 0;
    for (let i = 0; i < n; i++) { const sc = atol + rtol * Math.abs(y[i]!); scn += sc * sc; }
    const target = this.krylovTol * Math.sqrt(scn);
    const s = tab.c.length;
    for (let i = 0; i < s; i++) {
      if (i === 0) rhs.set(this.f0);
      else {
        lincomb(tmp, y, 1, this.aRows[i]!, k);
        const ti = t + tab.c[i]! * h;
        if (!this.eval(ti, tmp, rhs)) return { time: ti, what: 'f(t, y)' };
      }
      // rhs ← γh·(rhs + h d_i f_t + (1/h) Σ C_ij k_j), in at most two passes.
      const di = tab.d[i]! * h, ft = this.ft, gh = this.gammaH;
      if (di !== 0 && ft) for (let q = 0; q < n; q++) rhs[q] = gh * (rhs[q]! + di * ft[q]!);
      else for (let q = 0; q < n; q++) rhs[q]! *= gh;
      lincomb(rhs, rhs, gh / h, this.cRows[i]!, k);
      const converged = this.gmres.solve(this.apply, rhs, k[i]!, target, this.maxProducts);
      if (!allFinite(k[i]!)) return { time: t, what: 'the Jacobian-vector product (or a GMRES iterate)' };
      if (!converged) {
        this.note = `GMRES did not reach the residual target ${target.toExponential(2)} `
          + `(‖r‖ = ${this.gmres.residual.toExponential(2)} after ${this.gmres.products} products); `
          + `raise krylov.maxIters or krylov.restart`;
        if (!this.opts.fixed) return Infinity;
      }
    }
    lincomb(yNew, y, 1, this.mRow, k);
    lincomb(tmp, null, 1, this.eRow, k);
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const a = tmp[i]! / (atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(yNew[i]!)));
      s2 += a * a;
    }
    const err = n > 0 ? Math.sqrt(s2 / n) : 0;
    if (!(err < Infinity) && !allFinite(yNew)) return { time: t + h, what: 'the solution y' };
    return err;
  }

  accept(t: number, h: number, needDense: boolean): Fault | null {
    if (needDense && this.D.length === 2) {
      for (let r = 0; r < 2; r++) lincomb(this.D[r]!, null, 1, this.dRows[r]!, this.k);
    }
    // f(t+h, y_new) first: on a fault the current state stays the old one.
    if (!allFinite(this.yNew)) return { time: t + h, what: 'the solution y' };
    if (!this.eval(t + h, this.yNew, this.f0)) return { time: t + h, what: 'f(t, y)' };
    const yOld = this.y;
    this.y = this.yNew;
    this.yNew = yOld;
    this.ftReady = false;
    return null;
  }

  dense(theta: number, out: Float64Array): void {
    if (this.D.length !== 2) throw new Error('internal: dense output was not prepared');
    const y0 = this.yNew, y1 = this.y, D0 = this.D[0]!, D1 = this.D[1]!, u = 1 - theta;
    for (let i = 0; i < this.n; i++) out[i] = u * y0[i]! + theta * (y1[i]! + u * (D0[i]! + theta * D1[i]!));
  }
}
