/**
 * An exponential integrator for semilinear systems y' = A·y + N(t, y) whose stiff part A is a
 * linear operator with known φ-functions: ETDRK4 of Cox & Matthews (J. Comput. Phys. 176, 2002),
 *
 *   a = e^{hA/2} y + (h/2) φ1(hA/2) N(t, y)
 *   b = e^{hA/2} y + (h/2) φ1(hA/2) N(t + h/2, a)
 *   c = e^{hA/2} a + (h/2) φ1(hA/2) (2 N(t + h/2, b) − N(t, y))
 *   y⁺ = e^{hA} y + h [ (φ1 − 3φ2 + 4φ3) N(t, y) + 2 (φ2 − 2φ3)(N_a + N_b) + (4φ3 − φ2) N_c ]
 *
 * with φ0(z) = e^z, φ1(z) = (e^z − 1)/z, φ2(z) = (e^z − 1 − z)/z², φ3(z) = (e^z − 1 − z − z²/2)/z³,
 * all evaluated at hA. The stiffness of A costs nothing: the step is limited by how fast N
 * changes, not by the largest eigenvalue of A. Step size by step doubling (one step of h
 * against two of h/2, Richardson: the error of the pair is ≈ (y_h/2 − y_h)/15) with the same
 * error norm and controller as the Runge–Kutta methods.
 *
 * The gradient flow uses it on the deviation from the linearized flow, with A = −J0ᵀJ0, whose
 * φ-functions follow from the spectrum of the NTK K0 = J0 J0ᵀ (see `flow.ts`).
 */
import type { SolveResult } from './types.ts';

/** The stiff linear part: out = φ_k(h·A)·v (k = 0 is the matrix exponential). */
export interface PhiOperator {
  readonly dim: number;
  phi(k: 0 | 1 | 2 | 3, h: number, v: Float64Array, out: Float64Array): void;
}

export type Nonlinear = (t: number, y: Float64Array, out: Float64Array) => void;

export interface EtdOptions {
  rtol?: number;
  atol?: number;
  h0?: number;
  maxSteps?: number;
  /** Output times (sorted, in (t0, T]); the solver steps to each exactly. */
  times?: number[];
  onStep?: (t: number, y: Float64Array) => void;
}

/**
 * φ_k(z) for scalar z, accurate for every z ≤ 0 (Taylor series near 0, where the closed forms
 * cancel).
 * @example phiScalar(1, -1e-9) // ≈ 1 − 5e-10
 */
export function phiScalar(k: 0 | 1 | 2 | 3, z: number): number {
  if (k === 0) return Math.exp(z);
  if (Math.abs(z) < 0.5) {
    // φ_k(z) = Σ_j z^j / (j + k)!
    let term = 1;
    for (let i = 2; i <= k; i++) term /= i;
    let sum = term;
    for (let j = 1; j < 30; j++) {
      term *= z / (j + k);
      sum += term;
      if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    }
    return sum;
  }
  const e = Math.expm1(z);
  if (k === 1) return e / z;
  if (k === 2) return (e - z) / (z * z);
  return (e - z - (z * z) / 2) / (z * z * z);
}

/**
 * Integrate y' = A·y + N(t, y) from t0 to T.
 * @example
 *   const r = solveEtd(A, N, 0, y0, 10, { rtol: 1e-10 });
 */
export function solveEtd(A: PhiOperator, N: Nonlinear, t0: number, y0: Float64Array, T: number, opts: EtdOptions = {}): SolveResult {
  const n = A.dim;
  const rtol = opts.rtol ?? 1e-8, atol = opts.atol ?? 1e-10;
  const maxSteps = opts.maxSteps ?? 100000;
  const stats = { steps: 0, rejected: 0, rhsEvals: 0, jvpEvals: 0 };
  const buf = () => new Float64Array(n);
  const Nn = buf(), Na = buf(), Nb = buf(), Nc = buf(), a = buf(), b = buf(), c = buf(), tmp = buf(), tmp2 = buf(), sum = buf();
  const yFull = buf(), yHalf = buf(), yMid = buf();
  const evalN = (t: number, y: Float64Array, out: Float64Array) => {
    stats.rhsEvals++;
    N(t, y, out);
  };
  /** One ETDRK4 step of size h from (t, y) into out; Nn = N(t, y) must be set. */
  const step = (t: number, y: Float64Array, h: number, nAtY: Float64Array, out: Float64Array) => {
    const h2 = h / 2;
    A.phi(0, h2, y, tmp); // e^{hA/2} y
    A.phi(1, h2, nAtY, tmp2);
    for (let i = 0; i < n; i++) a[i] = tmp[i]! + h2 * tmp2[i]!;
    evalN(t + h2, a, Na);
    A.phi(1, h2, Na, tmp2);
    for (let i = 0; i < n; i++) b[i] = tmp[i]! + h2 * tmp2[i]!;
    evalN(t + h2, b, Nb);
    A.phi(0, h2, a, tmp);
    for (let i = 0; i < n; i++) sum[i] = 2 * Nb[i]! - nAtY[i]!;
    A.phi(1, h2, sum, tmp2);
    for (let i = 0; i < n; i++) c[i] = tmp[i]! + h2 * tmp2[i]!;
    evalN(t + h, c, Nc);
    // y⁺ = e^{hA} y + h[φ1 Nn + φ2 (−3Nn + 2Na + 2Nb − Nc) + φ3 (4Nn − 4Na − 4Nb + 4Nc)]
    A.phi(0, h, y, out);
    A.phi(1, h, nAtY, tmp);
    for (let i = 0; i < n; i++) out[i] += h * tmp[i]!;
    for (let i = 0; i < n; i++) sum[i] = -3 * nAtY[i]! + 2 * Na[i]! + 2 * Nb[i]! - Nc[i]!;
    A.phi(2, h, sum, tmp);
    for (let i = 0; i < n; i++) out[i] += h * tmp[i]!;
    for (let i = 0; i < n; i++) sum[i] = 4 * (nAtY[i]! - Na[i]! - Nb[i]! + Nc[i]!);
    A.phi(3, h, sum, tmp);
    for (let i = 0; i < n; i++) out[i] += h * tmp[i]!;
  };

  const targets = [...(opts.times ?? []).filter((t) => t > t0 && t < T), T];
  const outT: number[] = [], outY: Float64Array[] = [];
  let t = t0;
  const y = Float64Array.from(y0);
  let h = opts.h0 ?? (T - t0) / 100;
  const Nhalf = buf();
  let target = 0;
  let status: SolveResult['status'] = 'ok';
  let message: string | undefined;
  evalN(t, y, Nn);
  while (target < targets.length) {
    if (stats.steps + stats.rejected >= maxSteps) {
      status = 'maxSteps';
      message = `the exponential integrator reached ${maxSteps} steps at t = ${t.toPrecision(4)}: loosen the tolerance or shorten the horizon`;
      break;
    }
    const goal = targets[target]!;
    const last = t + h >= goal * (1 - 1e-14);
    const hh = last ? goal - t : h;
    step(t, y, hh, Nn, yFull);
    step(t, y, hh / 2, Nn, yMid);
    evalN(t + hh / 2, yMid, Nhalf);
    step(t + hh / 2, yMid, hh / 2, Nhalf, yHalf);
    // Richardson: the error of yHalf is about (yHalf − yFull)/15 for a method of order 4.
    let err = 0, finite = true;
    for (let i = 0; i < n; i++) {
      const sc = atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(yHalf[i]!));
      const e = (yHalf[i]! - yFull[i]!) / 15 / sc;
      if (!Number.isFinite(e)) finite = false;
      err += e * e;
    }
    err = Math.sqrt(err / Math.max(1, n));
    if (!finite) {
      if (hh < 1e-14 * Math.max(1, Math.abs(t))) {
        status = 'nonFinite';
        message = `the flow produced a non-finite value at t = ${t.toPrecision(4)}: try a smaller T, a larger α, or check the model`;
        break;
      }
      h = hh / 10;
      stats.rejected++;
      continue;
    }
    const factor = Math.min(5, Math.max(0.2, 0.9 * Math.pow(Math.max(err, 1e-10), -1 / 5)));
    if (err <= 1) {
      t = last ? goal : t + hh;
      for (let i = 0; i < n; i++) y[i] = yHalf[i]! + (yHalf[i]! - yFull[i]!) / 15; // extrapolated (order 5)
      stats.steps++;
      evalN(t, y, Nn);
      opts.onStep?.(t, y);
      if (last) {
        outT.push(t);
        outY.push(Float64Array.from(y));
        target++;
      }
      h = Math.max(h, hh) * factor;
      if (!last) h = hh * factor;
    } else {
      stats.rejected++;
      h = hh * factor;
      if (h < 1e-14 * Math.max(1, Math.abs(t))) {
        status = 'stepTooSmall';
        message = `the step size fell below 1e-14·t at t = ${t.toPrecision(4)}: the flow may be singular there`;
        break;
      }
    }
  }
  return {
    t: outT,
    y: outY,
    stats,
    stiffness: { detected: false, estimate: null, atTime: null, lambdaMax: null },
    status,
    ...(message ? { message } : {}),
    tFinal: t,
    yFinal: Float64Array.from(y),
  };
}
