/**
 * Width scaling of the hierarchy (docs/math.md §3, Theorem 2.3 and Corollary 2.4): for a dim of the
 * model (the width m) over a list of values and several seeds, the sup norms ‖K^(r)_0‖∞ of the
 * kernels at initialization and, with a horizon T, the change of the NTK along the true flow
 * ‖K^(2)_T − K^(2)_0‖∞; then least-squares slopes of log(norm) against log(m), with their
 * standard errors. The theorem predicts slopes ≈ 0 for r = 2, ≈ −1 for r = 3 and 4 (the odd
 * leading term vanishes), and ≈ −1 for the NTK change, up to logarithms.
 */
import type { Model } from '../ir/model.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { kernelTensor } from './hierarchy.ts';
import { ntk } from './ntk.ts';
import { trueFlow } from './truncated.ts';
import { fitLogLog } from '../math/fit.ts';

/**
 * Options of `widthScaling`: how to load the model at a width and a seed, the widths, the
 * orders r of K^(r), the seeds, and an optional horizon T for the NTK's change along the flow.
 */
export interface ScalingOptions {
  /** The model at a given width and seed (e.g. loadModel with --set m=width and the seed). */
  load: (width: number, seed: number) => Model;
  widths: number[];
  orders: number[];
  seeds: number[];
  /** Horizon of the flow for the NTK change (none: not computed). */
  T?: number;
  alpha?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One measurement of `widthScaling`: ‖K^(r)_0‖∞ (quantity 'K2', 'K3', …) or ‖K^(2)_T − K^(2)_0‖∞
 * ('dK2') at one width and seed.
 */
export interface ScalingPoint {
  width: number;
  seed: number;
  /** 'K2', 'K3', … for ‖K^(r)_0‖∞, 'dK2' for ‖K^(2)_T − K^(2)_0‖∞. */
  quantity: string;
  value: number;
}

/**
 * log(value) = intercept + slope·log(width), least squares over every point (all seeds)
 * (`fitLogLog`), and the slope the theory predicts for it.
 */
export interface SlopeFit {
  quantity: string;
  slope: number;
  /** Standard error of the slope (null with fewer than 3 points). */
  stderr: number | null;
  intercept: number;
  points: number;
  /** The theory's slope for deep networks (`theorySlope`), null where it gives none. */
  expected: number | null;
}

const supNorm = (x: Float64Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/**
 * The slope of log‖·‖∞ against log m that Theorem 2.3 and Corollary 2.4 (Huang & Yau) predict
 * for a deep network, up to powers of log m: ‖K^(r)_0‖∞ ~ m^{−(r/2 − 1)} for even r (the limit
 * 𝒦^(r) is nonzero), ≲ m^{−(r−1)/2} for odd r (𝒦^(r) = 0), and ‖K^(2)_T − K^(2)_0‖∞ ≲ (1+T)/m.
 * Quantities it says nothing about give null.
 * @example [theorySlope('K2'), theorySlope('K3'), theorySlope('K4'), theorySlope('dK2')] // [0, −1, −1, −1]
 */
export function theorySlope(quantity: string): number | null {
  if (quantity === 'dK2') return -1;
  const r = /^K(\d+)$/.exec(quantity);
  if (!r) return null;
  const order = Number(r[1]);
  return order % 2 === 0 ? 1 - order / 2 : (1 - order) / 2;
}

/**
 * `fitLogLog` of value against width, named after its quantity, with the theory's slope; null
 * when the points do not determine a line (fewer than two positive values, or one width).
 * @example slopeFit([1, 2, 4, 8], [3, 1.5, 0.75, 0.375], 'K4')!.slope // −1
 */
export function slopeFit(widths: number[], values: number[], quantity: string, expected: number | null = theorySlope(quantity)): SlopeFit | null {
  const f = fitLogLog(widths, values);
  return f && { quantity, slope: f.slope, stderr: f.stderr, intercept: f.intercept, points: f.n, expected };
}

/**
 * The norms of the kernels (and the NTK change) at every width and seed, and their slopes.
 * @example
 *   widthScaling({ load: (m, s) => loadModel(f, { overrides: new Map([['m', m]]), seed: s }),
 *                  widths: [64, 128, 256], orders: [2, 3, 4], seeds: [0, 1, 2] })
 */
export function widthScaling(opts: ScalingOptions): { points: ScalingPoint[]; fits: SlopeFit[] } {
  const points: ScalingPoint[] = [];
  const total = opts.widths.length * opts.seeds.length;
  let done = 0;
  for (const width of opts.widths)
    for (const seed of opts.seeds) {
      const model = opts.load(width, seed);
      const ev = new Evaluator(model);
      for (const r of opts.orders) points.push({ width, seed, quantity: `K${r}`, value: supNorm(kernelTensor(ev, r).data) });
      if (opts.T !== undefined) {
        const K0 = ntk(ev, model.w0);
        const { w } = trueFlow(ev, { T: opts.T, alpha: opts.alpha ?? 1 });
        const KT = ntk(ev, w);
        points.push({ width, seed, quantity: 'dK2', value: supNorm(KT.map((x, i) => x - K0[i]!)) });
      }
      opts.onProgress?.(++done, total);
    }
  const quantities = [...new Set(points.map((p) => p.quantity))];
  const fits = quantities.flatMap((q) => {
    const ps = points.filter((p) => p.quantity === q);
    return slopeFit(ps.map((p) => p.width), ps.map((p) => p.value), q) ?? [];
  });
  return { points, fits };
}
