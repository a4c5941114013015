/**
 * Power-law fits: the one least-squares line through (log x, log y) that sweeps (E against T/α or
 * κ), width scaling (‖K^(r)‖∞ against m) and the infinite-width convergence (‖Θ̂_m − Θ‖ against
 * m) all report, and the points of that line for a plot.
 */

/** log y = intercept + slope·log x, fitted by least squares. */
export interface LogLogFit {
  /** d log y / d log x. */
  slope: number;
  /** The slope's standard error √(RSS/(n − 2) / Σ(log x − mean)²); null with fewer than 3 points. */
  stderr: number | null;
  /** log y at x = 1. */
  intercept: number;
  /** The points used: those with x and y positive and finite. */
  n: number;
}

/**
 * Least-squares fit of log y = intercept + slope·log x over the points with x, y > 0 and finite
 * (the others cannot lie on a log-log plot and are left out); null when fewer than two remain or
 * all their x are equal.
 *
 *   slope = Σ(X − X̄)(Y − Ȳ) / Σ(X − X̄)²,  X = log x, Y = log y
 *
 * @example fitLogLog([1, 10, 100], [2, 20, 200])!.slope // 1
 */
export function fitLogLog(x: readonly number[], y: readonly number[]): LogLogFit | null {
  const X: number[] = [], Y: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!, b = y[i]!;
    if (a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b)) {
      X.push(Math.log(a));
      Y.push(Math.log(b));
    }
  }
  const n = X.length;
  if (n < 2) return null;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += X[i]! / n;
    my += Y[i]! / n;
  }
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (X[i]! - mx) ** 2;
    sxy += (X[i]! - mx) * (Y[i]! - my);
  }
  if (!(sxx > 0)) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (Y[i]! - intercept - slope * X[i]!) ** 2;
  const stderr = n > 2 ? Math.sqrt(rss / (n - 2) / sxx) : null;
  return { slope, stderr, intercept, n };
}

/**
 * The fitted line y = e^intercept · x^slope at the two ends of [xmin, xmax]: a straight segment
 * on log-log axes, for a plot.
 * @example fitLine({ slope: 1, stderr: null, intercept: 0, n: 2 }, 1, 10) // { x: [1, 10], y: [1, 10] }
 */
export function fitLine(f: Pick<LogLogFit, 'slope' | 'intercept'>, xmin: number, xmax: number): { x: number[]; y: number[] } {
  const at = (x: number) => Math.exp(f.intercept + f.slope * Math.log(x));
  return { x: [xmin, xmax], y: [at(xmin), at(xmax)] };
}
