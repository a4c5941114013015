/**
 * Convergence to the infinite-width limit (`ntk scaling FILE --widths … --limit`): at each
 * width m and seed, the relative distance ‖Θ̂_m − Θ‖_F/‖Θ‖_F of the empirical NTK at
 * initialization to the limit NTK, and per width ‖mean over seeds of h hᵀ − 𝒦‖_F/‖𝒦‖_F, with
 * log-log slope fits. Theory (Lee et al. 2019; Yang): Θ̂_m − Θ = O(m^{−1/2}), slope −½. The
 * NNGP distance mixes the O(1/m) bias with the seeds' sampling error O(1/√seeds), so its slope
 * flattens once the sampling error dominates.
 * @example
 *   limitScaling(model, { dim: 'm', widths: [64, 256, 1024], seeds: 4,
 *     modelAt: (m, s) => loadModel(file, { overrides: new Map([['m', m]]), seed: s }) })
 */
import type { Model } from '../ir/model.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { kernelTensor } from './hierarchy.ts';
import { limitKernels, type LimitReport } from './limit.ts';
import { slopeFit, type SlopeFit } from './scaling.ts';

/**
 * What `limitScaling` varies: the width dim `dim` over `widths`, `seeds` initializations per
 * width, each elaborated by `modelAt(width, seed)`.
 */
export interface LimitScalingOptions {
  dim: string;
  widths: number[];
  seeds: number;
  overrides?: Map<string, number>;
  modelAt: (width: number, seed: number) => Model;
  onProgress?: (done: number, total: number) => void;
}

/**
 * One measurement: ‖Θ̂_m − Θ‖_F/‖Θ‖_F at one (width, seed) ('ntk'), or ‖mean_s h hᵀ − 𝒦‖_F/‖𝒦‖_F
 * over the seeds of one width ('nngp', seed null).
 */
export interface LimitScalingPoint {
  width: number;
  seed: number | null;
  quantity: 'ntk' | 'nngp';
  /** Relative Frobenius distance to the limit kernel. */
  value: number;
}

/** `limitScaling`'s report (the JSON of `ntk scaling --limit`): the points, their log-log fits, and the limit kernels. */
export interface LimitScalingReport {
  dim: string;
  widths: number[];
  seeds: number;
  points: LimitScalingPoint[];
  fits: SlopeFit[];
  limit: LimitReport;
}

const relFro = (A: ArrayLike<number>, B: number[][]) => {
  const b = B.flat();
  let s = 0, t = 0;
  for (let i = 0; i < b.length; i++) { s += (A[i]! - b[i]!) ** 2; t += b[i]! ** 2; }
  return Math.sqrt(s / t);
};

/**
 * The distance of the finite-width kernels to the infinite-width limit, per width: the NTK's
 * ‖Θ̂_m − Θ‖_F/‖Θ‖_F per seed and the NNGP's ‖(1/N)Σ_s h_s h_sᵀ − 𝒦‖_F/‖𝒦‖_F, with the slopes of
 * log distance against log m (theory: −½ for the NTK). See the module comment.
 * @example
 *   limitScaling(model, { dim: 'm', widths: [64, 256, 1024], seeds: 4,
 *     modelAt: (m, s) => loadModel(file, { overrides: new Map([['m', m]]), seed: s }) }).fits[0].slope // ≈ −0.5
 */
export function limitScaling(model: Model, opts: LimitScalingOptions): LimitScalingReport {
  const limit = limitKernels(model, { width: [opts.dim], ...(opts.overrides ? { overrides: opts.overrides } : {}) });
  const points: LimitScalingPoint[] = [];
  const total = opts.widths.length * opts.seeds;
  let done = 0;
  for (const width of opts.widths) {
    let mean: Float64Array | null = null;
    for (let seed = 0; seed < opts.seeds; seed++) {
      const m = opts.modelAt(width, seed);
      const ev = new Evaluator(m);
      const k = ev.k;
      if (limit.ntk) points.push({ width, seed, quantity: 'ntk', value: relFro(kernelTensor(ev, 2, {}).data, limit.ntk) });
      const h = ev.output(m.w0);
      mean ??= new Float64Array(k * k);
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) mean[a * k + b]! += (h[a]! * h[b]!) / opts.seeds;
      opts.onProgress?.(++done, total);
    }
    if (limit.nngp && mean) points.push({ width, seed: null, quantity: 'nngp', value: relFro(mean, limit.nngp) });
  }
  const fits: SlopeFit[] = [];
  for (const q of ['ntk', 'nngp'] as const) {
    const ps = points.filter((p) => p.quantity === q);
    const fit = slopeFit(ps.map((p) => p.width), ps.map((p) => p.value), q, q === 'ntk' ? -0.5 : null);
    if (fit) fits.push(fit);
  }
  return { dim: opts.dim, widths: opts.widths, seeds: opts.seeds, points, fits, limit };
}
