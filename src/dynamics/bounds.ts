/**
 * The bounds of the NTK approximation (docs/math.md §1; Boix-Adsera & Littwin 2023, Chizat et al.
 * 2019), as pure functions of the constants of a run. Each bound comes with its own validity
 * horizon; a bound whose assumptions fail is reported with the reason, never as a number.
 *
 *   κ = (T/α)·Lip(Dh)·√R0
 *   Theorem 1.2   E(T) ≤ min(6κ√R0, √(8R0))            for T ≤ α²ρ²/R0
 *                 (its proof's sharper form: min(2κ + 3κ², 2)·√(2R0))
 *   Prop. 1.1     E(T) ≤ T·Lip(h)²·κ·√R0               for T ≤ αρ/(Lip(h)√R0)
 *   Prop. 3.1     ‖w(T) − w0‖ ≤ √(T·R0)/α, same for w̄
 */

/** A bound's value, or null with the reason it does not apply. */
export interface Bound {
  value: number | null;
  /** Why the bound is not given, or a caveat (e.g. T beyond the validity horizon). */
  note: string | null;
  /** The largest T for which the theorem's hypothesis holds (null: unknown or unlimited). */
  horizon: number | null;
  /** T ≤ horizon (null when the horizon is unknown). */
  valid: boolean | null;
}

/**
 * What `boundsReport` needs: α, T, R0 = R(α·h(w0)), the Lipschitz constants on B(w0, ρ) (null when
 * unknown), ρ, and whether the loss is the square loss and the model smooth.
 */
export interface BoundInputs {
  alpha: number;
  T: number;
  R0: number;
  /** Lip(Dh) on B(w0, ρ), null if unknown. */
  lipDh: number | null;
  /** Lip(h) on B(w0, ρ), null if unknown. */
  lipH: number | null;
  /** The radius ρ of the ball, null if not given. */
  radius: number | null;
  /** The loss is ½‖v − y*‖² (the theorems assume it). */
  squareLoss: boolean;
  /** The model uses a non-smooth function (the theorems assume Dh Lipschitz). */
  nonSmooth: boolean;
}

/**
 * Every bound of the theory for one run (docs/math.md §1), each a `Bound` (a value, or null with
 * the reason), with κ = (T/α)·Lip(Dh)·√R0.
 */
export interface BoundsReport {
  kappa: number | null;
  theorem12: Bound;
  theorem12Sharp: Bound;
  prop11: Bound;
  /** √(T R0)/α: bounds both ‖w(T) − w0‖ and ‖w̄(T) − w0‖ (needs only the square loss). */
  prop31: Bound;
}

/**
 * Relative tolerance of T ≤ horizon. The default ball's radius ρ = √(T·R0)/α (Prop. 3.1) makes
 * α²ρ²/R0 equal T by construction; computed, it is T within a few ulps either way
 * (4.999999999999999 for T = 5), which is no reason to warn. Horizons within 1e-12·T of T count as
 * met; a real shortfall is larger than that by orders of magnitude.
 */
export const HORIZON_RTOL = 1e-12;
/** T ≤ horizon up to HORIZON_RTOL. @example withinHorizon(5, 4.999999999999999) // true */
export const withinHorizon = (T: number, horizon: number) => T <= horizon * (1 + HORIZON_RTOL);
/**
 * ‖w(t) − w0‖ ≤ ρ up to the same relative tolerance: the default ρ is Proposition 3.1's bound
 * √(T·R0)/α itself, which the trajectory may approach, so a rounding-level excess is no exit.
 * @example withinBall(0.1000000000000001, 0.1) // true
 */
export const withinBall = (distance: number, radius: number) => distance <= radius * (1 + HORIZON_RTOL);

const na = (note: string): Bound => ({ value: null, note, horizon: null, valid: null });

/**
 * κ = (T/α)·Lip(Dh)·√R0, or null when Lip(Dh) is unknown.
 * @example kappa(10, 100, 2, 0.5)   // (100/10)·2·√0.5 ≈ 14.14
 */
export function kappa(alpha: number, T: number, lipDh: number | null, R0: number): number | null {
  return lipDh === null ? null : (T / alpha) * lipDh * Math.sqrt(R0);
}

/**
 * All bounds for one run.
 * @example boundsReport({ alpha: 10, T: 100, R0: 0.5, lipDh: 2, lipH: 1, radius: 1, squareLoss: true, nonSmooth: false })
 */
export function boundsReport(x: BoundInputs): BoundsReport {
  return finiteBounds(boundsReportRaw(x), x);
}

/**
 * A bound is a number or null: a constant that is NaN or ±∞ (an overflowed estimate) gives no
 * bound, and neither does arithmetic that overflows on the way (κ² with κ near 1e200): such a
 * value is replaced by null with the reason, never printed.
 */
function finiteBounds(r: BoundsReport, x: BoundInputs): BoundsReport {
  const bad = (v: number | null) => v !== null && !Number.isFinite(v);
  const inputs = ([['α', x.alpha], ['T', x.T], ['R0', x.R0], ['Lip(Dh)', x.lipDh], ['Lip(h)', x.lipH], ['ρ', x.radius]] as const)
    .filter(([, v]) => bad(v)).map(([n, v]) => `${n} = ${v}`);
  const fix = (b: Bound, name: string): Bound =>
    !bad(b.value) ? b : {
      value: null,
      note: [inputs.length ? `not finite: ${inputs.join(', ')}` : `${name} overflows in floating point`, b.note].filter((n) => n).join('; '),
      horizon: b.horizon,
      valid: b.valid,
    };
  return {
    kappa: bad(r.kappa) ? null : r.kappa,
    theorem12: fix(r.theorem12, 'the Theorem 1.2 bound'),
    theorem12Sharp: fix(r.theorem12Sharp, 'the sharp Theorem 1.2 bound'),
    prop11: fix(r.prop11, 'the Proposition 1.1 bound'),
    prop31: fix(r.prop31, 'the Proposition 3.1 bound'),
  };
}

function boundsReportRaw(x: BoundInputs): BoundsReport {
  const { alpha, T, R0, radius } = x;
  // An overflowed constant is no constant: treated as unknown (its bounds null, with the reason).
  const lipDh = x.lipDh !== null && Number.isFinite(x.lipDh) ? x.lipDh : null;
  const lipH = x.lipH !== null && Number.isFinite(x.lipH) ? x.lipH : null;
  const sqR0 = Math.sqrt(R0);
  const prop31: Bound = x.squareLoss
    ? { value: Math.sqrt(T * R0) / alpha, note: null, horizon: null, valid: null }
    : na('Proposition 3.1 assumes the square loss');
  const k = kappa(alpha, T, lipDh, R0);
  const why =
    !x.squareLoss ? 'the theorems assume the square loss R(v) = ½‖v − y*‖²'
    : x.nonSmooth ? 'the model is not smooth (relu, abs or sign): Dh has no Lipschitz constant'
    : x.lipDh !== null && lipDh === null ? `Lip(Dh) = ${x.lipDh} is not finite: no bound follows from it`
    : lipDh === null ? 'Lip(Dh) is unknown: give --lip-dh'
    : null;
  if (why) return { kappa: x.squareLoss && !x.nonSmooth ? k : null, theorem12: na(why), theorem12Sharp: na(why), prop11: na(why), prop31 };
  const kap = k!;
  const horizon12 = radius === null ? null : (alpha * alpha * radius * radius) / R0;
  const valid12 = horizon12 === null ? null : withinHorizon(T, horizon12);
  const note12 = horizon12 === null ? 'no --radius: the horizon T ≤ α²ρ²/R0 was not checked' : valid12 ? null : `T = ${T} is beyond the horizon α²ρ²/R0 = ${horizon12.toPrecision(4)}`;
  const theorem12: Bound = { value: Math.min(6 * kap * sqR0, Math.sqrt(8 * R0)), note: note12, horizon: horizon12, valid: valid12 };
  const theorem12Sharp: Bound = { value: Math.min(2 * kap + 3 * kap * kap, 2) * Math.sqrt(2 * R0), note: note12, horizon: horizon12, valid: valid12 };
  let prop11: Bound;
  if (x.lipH !== null && lipH === null) prop11 = na(`Lip(h) = ${x.lipH} is not finite: no bound follows from it`);
  else if (lipH === null) prop11 = na('Lip(h) is unknown: give --lip-h');
  else {
    const horizon = radius === null || R0 === 0 ? null : (alpha * radius) / (lipH * sqR0);
    const valid = horizon === null ? null : withinHorizon(T, horizon);
    prop11 = {
      value: T * lipH * lipH * kap * sqR0,
      note: horizon === null ? 'no --radius: the horizon T ≤ αρ/(Lip(h)√R0) was not checked' : valid ? null : `T = ${T} is beyond the horizon αρ/(Lip(h)√R0) = ${horizon.toPrecision(4)}`,
      horizon,
      valid,
    };
  }
  return { kappa: kap, theorem12, theorem12Sharp, prop11, prop31 };
}
