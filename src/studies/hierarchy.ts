/**
 * The studies of the Neural Tangent Hierarchy's commands: `ntk nth` (the truncated hierarchy
 * next to the true flow) and `ntk scaling` (kernel norms against a width, with slope fits), as
 * the reports their `--json` prints.
 */
import type { Model } from '../ir/model.ts';
import { loadModel } from '../ir/load.ts';
import { nonSmoothWarning } from '../nth/hierarchy.ts';
import { widthScaling, type ScalingPoint, type SlopeFit } from '../nth/scaling.ts';
import { nth } from '../api.ts';
import { kernelName, type RatesInfo } from '../ir/rates.ts';
import { nest, OptionError, outputCount } from './common.ts';

/** The report of `ntk nth` (its JSON keys; K2 and trueK2 as k × k nested arrays). */
export interface NthReport {
  order: number;
  T: number;
  alpha: number;
  /** α·h̃(T) of the truncated hierarchy and α·h(w(T)) of the true flow, and their distance. */
  out: number[];
  trueOut: number[];
  error: number;
  /** K̃^(2)(T) of the hierarchy and K^(2)(w(T)) of the flow. */
  K2: unknown;
  trueK2: unknown;
  stats: { hierarchySteps: number; flowSteps: number | null };
  /** At the test inputs (eq. 2.11), with a `test` declaration. */
  testOut?: number[];
  trueTestOut?: number[];
  testError?: number | null;
  warnings?: string[];
  /** With per-parameter rates (a model of `withRates`): the kernel, 'Dh·H·Dhᵀ with H = diag(…)'. */
  kernel?: string;
}

/**
 * The report of `ntk nth`: the truncated hierarchy of order p to time T next to the true flow
 * (a model without a loss is an OptionError: the flow needs one). A model with per-parameter
 * rates (`withRates`) flows by dw/dt = −H∇L, its kernels in the metric H (`kernel` says which).
 * @example nthReport(loadModel('examples/converse.ntk'), { order: 3, T: 1 }).error
 */
export function nthReport(m: Model, o: { order: number; T: number; alpha?: number; rtol?: number }): NthReport {
  const { order, T } = o;
  const alpha = o.alpha ?? 1;
  if (!m.loss) throw new OptionError(`${m.file} declares no loss: the hierarchy's flow needs one`);
  const k = outputCount(m);
  const r = nth(m, order, { T, alpha, rtol: o.rtol ?? 1e-10 });
  const warning = nonSmoothWarning(m, order);
  return {
    order, T, alpha, out: Array.from(r.out), trueOut: Array.from(r.trueOut!), error: r.error!,
    K2: nest(r.K2, [k, k]), trueK2: nest(r.trueK2!, [k, k]), stats: r.stats,
    ...(r.testOut ? { testOut: Array.from(r.testOut), trueTestOut: Array.from(r.trueTestOut!), testError: r.testError } : {}),
    ...(warning ? { warnings: [warning] } : {}),
    ...((m as Model & { rates?: RatesInfo }).rates ? { kernel: kernelName(m) } : {}),
  };
}

/** Options of `scalingStudy`: the widths (values of `dim`), orders, seeds, and the flow's horizon. */
export interface ScalingStudyOptions {
  /** The widths: values of the dim `dim` (default 'm'). */
  widths: number[];
  dim?: string;
  /** Kernel orders (default 2, 3, 4). */
  orders?: number[];
  /** Seeds 0..seeds−1 per width (default 3). */
  seeds?: number;
  /** Also ‖K^(2)_T − K^(2)_0‖∞ along the true flow of α·h up to T. */
  T?: number;
  alpha?: number;
  /** Other `--set` values, under the width's. */
  overrides?: Map<string, number>;
  onProgress?: (done: number, total: number) => void;
}

/** The report of `ntk scaling` (its JSON keys). */
export interface ScalingReport {
  dim: string;
  widths: number[];
  orders: number[];
  /** The number of seeds per width. */
  seeds: number;
  T: number | null;
  points: ScalingPoint[];
  fits: SlopeFit[];
}

/**
 * The report of `ntk scaling`: ‖K^(r)_0‖∞ (and the NTK's change along the flow) for the model in
 * `file` at each width and seed, and the slopes of their logs against log(width).
 * @example scalingStudy('examples/mlp-tanh.ntk', { widths: [64, 128, 256] }).fits
 */
export function scalingStudy(file: string, o: ScalingStudyOptions): ScalingReport {
  const { widths } = o;
  const dim = o.dim ?? 'm';
  const orders = o.orders ?? [2, 3, 4];
  const seeds = [...Array(o.seeds ?? 3).keys()];
  const T = o.T;
  const base = o.overrides ?? new Map<string, number>();
  const first = loadModel(file, { overrides: new Map([...base, [dim, widths[0]!]]), seed: 0 });
  if (!first.constants.has(dim)) throw new OptionError(`--dim ${dim}: the model has no dim or const named '${dim}'`);
  if (T !== undefined && !first.loss) throw new OptionError(`--T: ${file} declares no loss, so there is no flow to change the NTK`);
  const res = widthScaling({
    load: (width, seed) => loadModel(file, { overrides: new Map([...base, [dim, width]]), seed }),
    widths, orders, seeds, ...(T === undefined ? {} : { T, alpha: o.alpha ?? 1 }), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  });
  return { dim, widths, orders, seeds: seeds.length, T: T ?? null, points: res.points, fits: res.fits };
}
