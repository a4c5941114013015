/**
 * Step-size controllers, separate from the methods (a method only reports the exponent q of
 * its error estimate, err ∝ h^q, and a scaled error norm `err`; a step is accepted iff err ≤ 1).
 *
 * - I controller (HNW I, §II.4):  h_new = h · clamp(safety · err^(−1/q), facMin, facMax).
 * - PI controller (Gustafsson 1991; HNW II, IV.2; Hairer's DOPRI5 "Lund stabilization"):
 *       h_new = h · clamp(safety · err_n^(−α) · err_{n−1}^(β), facMin, facMax),
 *   β = 0.04 and α = 1/q − 0.75·β by default (Hairer's DOPRI5 values for q = 5: α = 0.17);
 *   err_{n−1} is the previous accepted error, floored at 1e-4 (Hairer's `facold`). It damps
 *   the step-size oscillation of explicit methods at their stability boundary while keeping h
 *   near it, which Hairer's stiffness test relies on. (Gustafsson's PI.3.4, α = 0.7/q,
 *   β = 0.4/q, settles at err ≈ safety^(q/0.3) ≈ 0.17 instead: smaller, safer steps.)
 *
 * Both: after a rejection the retry uses the I formula capped at 1, and the first accepted
 * step after a rejection may not grow (h_new ≤ h), which prevents reject/accept cycles
 * (`holdAfterReject: false` lifts that hold: the exponential methods, whose step sequences were
 * tuned without it). A non-finite err (overflow in a trial step) gives facMin. A method that
 * changes its order from step to step (exponential Adams during its start-up) passes each
 * step's exponent q with the error.
 *
 * @example
 *   const ctrl = piController({ safety: 0.9 });
 *   ctrl.reset(5);                        // DOPRI5: err ∝ h^5
 *   h *= err <= 1 ? ctrl.accepted(err) : ctrl.rejected(err);
 */

export interface StepController {
  readonly name: string;
  /** Start a new integration; q is the exponent of the error estimate (err ∝ h^q). */
  reset(q: number): void;
  /** Factor h_new/h after an accepted step with error norm err ≤ 1 (q: this step's exponent, default reset's). */
  accepted(err: number, q?: number): number;
  /** Factor h_new/h (≤ 1) after a rejected step with error norm err > 1 (possibly ∞). */
  rejected(err: number, q?: number): number;
}

export interface ControllerOptions {
  /** Safety factor (default 0.9). */
  safety?: number;
  /** Smallest factor h_new/h (default 0.2). */
  facMin?: number;
  /** Largest factor h_new/h (default 10). */
  facMax?: number;
  /** The first accepted step after a rejection may not grow (default true). */
  holdAfterReject?: boolean;
}

export interface PIControllerOptions extends ControllerOptions {
  /** Exponent of the previous error (default 0.04). */
  beta?: number;
  /** Exponent of the current error (default 1/q − 0.75·beta). */
  alpha?: number;
}

function clamp(x: number, lo: number, hi: number): number {
  // NaN (err = NaN) goes to lo: the safest reaction.
  return x >= lo ? (x <= hi ? x : hi) : lo;
}

function checkOptions(o: ControllerOptions): { safety: number; facMin: number; facMax: number; hold: boolean } {
  const safety = o.safety ?? 0.9, facMin = o.facMin ?? 0.2, facMax = o.facMax ?? 10, hold = o.holdAfterReject ?? true;
  if (!(safety > 0 && safety <= 1)) throw new RangeError(`controller safety must be in (0, 1], got ${safety}`);
  if (!(facMin > 0 && facMin < 1)) throw new RangeError(`controller facMin must be in (0, 1), got ${facMin}`);
  if (!(facMax > 1)) throw new RangeError(`controller facMax must be > 1, got ${facMax}`);
  return { safety, facMin, facMax, hold };
}

/**
 * Standard (integral) controller h_new = h · clamp(safety · err^(−1/q), facMin, facMax)
 * (Hairer–Nørsett–Wanner I, §II.4).
 *
 * @example
 *   solve('dopri5', f, 0, y0, 1, { controller: iController({ facMax: 5 }) });
 */
export function iController(opts: ControllerOptions = {}): StepController {
  const { safety, facMin, facMax, hold } = checkOptions(opts);
  let q0 = 1, justRejected = false;
  return {
    name: 'I',
    reset(order: number) { q0 = order; justRejected = false; },
    accepted(err: number, q = q0) {
      const fac = clamp(safety * Math.pow(err, -1 / q), facMin, justRejected && hold ? 1 : facMax);
      justRejected = false;
      return fac;
    },
    rejected(err: number, q = q0) {
      justRejected = true;
      return clamp(safety * Math.pow(err, -1 / q), facMin, 1);
    },
  };
}

/**
 * PI controller (Gustafsson; Hairer–Wanner II, §IV.2; Hairer's DOPRI5):
 * h_new = h · clamp(safety · err_n^(−α) · max(err_{n−1}, 1e-4)^β, facMin, facMax),
 * β = 0.04, α = 1/q − 0.75β unless given.
 *
 * @example
 *   solve('dop853', f, 0, y0, 10, { controller: piController({ alpha: 0.7 / 8, beta: 0.4 / 8 }) });
 */
export function piController(opts: PIControllerOptions = {}): StepController {
  const { safety, facMin, facMax, hold } = checkOptions(opts);
  const beta = opts.beta ?? 0.04;
  if (!(beta >= 0) || (opts.alpha !== undefined && !(opts.alpha > 0))) {
    throw new RangeError(`PI exponents must satisfy alpha > 0, beta ≥ 0 (got ${opts.alpha}, ${beta})`);
  }
  let alpha = 1, q0 = 1, errPrev = 1, justRejected = false;
  const exponent = (q: number) => {
    if (q === q0) return;
    q0 = q;
    alpha = opts.alpha ?? 1 / q - 0.75 * beta;
    if (!(alpha > beta)) throw new RangeError(`PI controller: need alpha > beta (alpha = ${alpha}, beta = ${beta}, q = ${q})`);
  };
  return {
    name: 'PI',
    reset(order: number) {
      q0 = NaN;
      exponent(order);
      errPrev = 1;
      justRejected = false;
    },
    accepted(err: number, q = q0) {
      exponent(q);
      const raw = safety * Math.pow(err, -alpha) * Math.pow(errPrev, beta);
      const fac = clamp(raw, facMin, justRejected && hold ? 1 : facMax);
      errPrev = Math.max(err, 1e-4);
      justRejected = false;
      return fac;
    },
    rejected(err: number, q = q0) {
      justRejected = true;
      return clamp(safety * Math.pow(err, -1 / q), facMin, 1);
    },
  };
}

/** Resolve the `controller` option; `fallback` makes the method's default. */
export function makeController(c: StepController | 'I' | 'PI' | undefined, fallback: () => StepController): StepController {
  if (c === undefined) return fallback();
  if (c === 'PI') return piController();
  if (c === 'I') return iController();
  return c;
}
