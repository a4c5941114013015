/**
 * The error function and its complement to (nearly) full double precision, without tables or
 * fitted coefficients:
 *
 *  - |x| < 2: the series erf(x) = (2/√π)·e^{−x²}·Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·5···(2n+1)). Every
 *    term is positive, so there is no cancellation (unlike the alternating Taylor series);
 *    at most ~31 terms.
 *  - |x| ≥ 2: erfc from Laplace's continued fraction (≤ 75 levels, evaluated backward), and
 *    erf = 1 − erfc; erfc(2) < 0.005, so the subtraction is benign.
 *
 * e^{−x²} is evaluated as e^{−hi}·(1 − lo) where hi + lo = x² exactly (Dekker's product), so the
 * rounding of x² (which would cost a relative error of x²·2⁻⁵³) does not leak into the result.
 * erfc(x) for x ≥ 0.5 uses the continued fraction directly (no 1 − erf cancellation).
 * Measured relative error is a few ulps (< 1e-14) on the whole line; see
 * test/math/erf.test.ts, which checks against an independent arbitrary-precision reference.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const ONE_OVER_SQRT_PI = 0.5641895835477563; // 1/√π
/** Below this |x| the positive series is used; above it the continued fraction. */
const SERIES_LIMIT = 2;
/** erf(x) rounds to ±1 beyond this (erfc(6) ≈ 2.2e-17 < 2⁻⁵⁴). */
const ERF_SATURATES = 6;
/** erfc(x) underflows to 0 beyond this (erfc(27.3) < 2⁻¹⁰⁷⁴). */
const ERFC_UNDERFLOWS = 27.3;

/** e^{−x²} with x² split exactly into hi + lo (Dekker), for |x| < 2²⁷. */
function expNegSquare(x: number): number {
  const c = 134217729 * x; // 2²⁷ + 1: Veltkamp split of x into 26-bit halves
  const xh = c - (c - x);
  const xl = x - xh;
  const hi = x * x;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  return Math.exp(-hi) * (1 - lo);
}

/** erf(x) for |x| < SERIES_LIMIT by the positive-term series. */
function erfSeries(x: number): number {
  const z = 2 * x * x;
  let term = 1;
  let sum = 1;
  // term_n = term_{n−1}·2x²/(2n+1); stop once a term no longer changes the sum.
  for (let n = 1; n < 200; n++) {
    term *= z / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * expNegSquare(x) * x * sum;
}

/**
 * erfc(x) for x ≥ 0.5 by Laplace's continued fraction
 *   erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))),
 * truncated after N = ⌈250/x²⌉ + 12 levels (enough for full precision: the fraction converges
 * geometrically at a rate that degrades like 1/x²) and evaluated backward from the tail. Every
 * level is x + positive/positive, so the backward evaluation is stable and the result accurate
 * to ~1 ulp before the final product, unlike forward (Lentz) evaluation, whose rounding errors
 * accumulate over the hundreds of steps needed near x = 0.5.
 */
function erfcFraction(x: number): number {
  const levels = Math.ceil(250 / (x * x)) + 12;
  let f = x;
  for (let n = levels; n >= 1; n--) f = x + (n * 0.5) / f;
  return (ONE_OVER_SQRT_PI * expNegSquare(x)) / f;
}

/**
 * The error function erf(x) = (2/√π)·∫₀ˣ e^{−t²} dt, odd, with erf(±∞) = ±1 and erf(NaN) = NaN.
 * Relative error below 1e-14 for every double x.
 *
 * @example erf(1) // 0.8427007929497149
 */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const ax = Math.abs(x);
  if (ax < SERIES_LIMIT) return erfSeries(x);
  if (ax >= ERF_SATURATES) return x > 0 ? 1 : -1;
  const r = 1 - erfcFraction(ax);
  return x > 0 ? r : -r;
}

/**
 * The complementary error function erfc(x) = 1 − erf(x) = (2/√π)·∫ₓ^∞ e^{−t²} dt, computed
 * without the cancellation of 1 − erf(x) for large x: relative error below 1e-14 wherever the
 * result is a normal number (erfc(x) underflows for x > 26.5), erfc(−∞) = 2, erfc(∞) = 0.
 *
 * @example erfc(10) // 2.088487583762545e-45
 */
export function erfc(x: number): number {
  if (x !== x) return NaN;
  if (x < 0.5) {
    // erf(x) < 0.53 here, so 1 − erf(x) > 0.47 loses at most a bit; for x ≤ −2,
    // 2 − erfc(−x) is the same thing with erfc(−x) < 0.005.
    if (x > -SERIES_LIMIT) return 1 - erfSeries(x);
    return x <= -ERF_SATURATES ? 2 : 2 - erfcFraction(-x);
  }
  if (x > ERFC_UNDERFLOWS) return 0;
  return erfcFraction(x);
}
