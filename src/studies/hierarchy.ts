/**
 * The studies of the Neural Tangent Hierarchy's commands: `ntk nth` (the truncated hierarchy
 * next to the true flow) and `ntk scaling` (kernel norms against a width, with slope fits), as
 * the reports their `--json` prints.
 */
import { jacobianBlockBytes } from '../evaluator/evaluator.ts';
import type { Model } from '../ir/model.ts';
import { loadModel } from '../ir/load.ts';
import { nonSmoothWarning } from '../nth/hierarchy.ts';
import { widthScaling, type ScalingPoint, type SlopeFit } from '../nth/scaling.ts';
import { nth } from '../api.ts';
import { kernelName, type RatesInfo } from '../ir/rates.ts';
import { nest, OptionError, outputCount } from './common.ts';
import { guardResult, vectorArray, withFiles, type OutOptions } from './out.ts';
import type { ResultArray } from '../io/arrays.ts';

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
 * Refuses (MemoryError) before any work a hierarchy whose state — K^(2) … K^(p−1), K^(p) fixed,
 * and the solver's copies of the state — would not fit. With `out` its arrays (out, trueOut, K2,
 * trueK2, and the test outputs') go to files (`N.K2.npy`, …), named in `files`.
 * @example nthReport(loadModel('examples/converse.ntk'), { order: 3, T: 1 }).error
 */
export function nthReport(m: Model, o: { order: number; T: number; alpha?: number; rtol?: number } & OutOptions) {
  const { order, T } = o;
  const alpha = o.alpha ?? 1;
  if (!m.loss) throw new OptionError(`${m.file} declares no loss: the hierarchy's flow needs one`);
  const k = outputCount(m);
  const kt = m.test ? m.test.shape.reduce((a, b) => a * b, 1) : 0;
  // The ODE's state: the outputs and K^(2) … K^(p−1) of each chain (training; test: first index
  // over kt); K^(p) stays fixed. DOP853 holds about 16 copies of the state (its 12 stages, the
  // step and its error), the true flow as many of the weights; K^(2) at w0 and at w(T) from
  // the Jacobian (k·p) when it is not formed by Gram products.
  let state = k + kt;
  const fixed = (k + kt) * k ** (order - 1);
  for (let r = 2; r < order; r++) state += (k + kt) * k ** (r - 1);
  guardResult('nth', o, {
    what: `the hierarchy of order ${order} on ${k} outputs`, values: 2 * k * k + 2 * (k + kt),
    working: 8 * (16 * state + fixed + 16 * m.paramCount + k * m.paramCount) + jacobianBlockBytes(k, m.paramCount),
    smaller: order > 2 ? `a lower --order (the state holds k^(p−1) values per chain; K^(p) has ${k}^${order})` : 'fewer outputs, or raise --max-memory',
  });
  const r = nth(m, order, { T, alpha, rtol: o.rtol ?? 1e-10 });
  const warning = nonSmoothWarning(m, order);
  const report: NthReport = {
    order, T, alpha, out: Array.from(r.out), trueOut: Array.from(r.trueOut!), error: r.error!,
    K2: o.out ? null : nest(r.K2, [k, k]), trueK2: o.out ? null : nest(r.trueK2!, [k, k]), stats: r.stats,
    ...(r.testOut ? { testOut: Array.from(r.testOut), trueTestOut: Array.from(r.trueTestOut!), testError: r.testError } : {}),
    ...(warning ? { warnings: [warning] } : {}),
    ...((m as Model & { rates?: RatesInfo }).rates ? { kernel: kernelName(m) } : {}),
  };
  if (!o.out) return report;
  type Key = 'out' | 'trueOut' | 'K2' | 'trueK2' | 'testOut' | 'trueTestOut';
  const arrays: (ResultArray & { key: Key })[] = [
    vectorArray('out', r.out), vectorArray('trueOut', r.trueOut!), vectorArray('K2', r.K2, [k, k]), vectorArray('trueK2', r.trueK2!, [k, k]),
  ];
  if (r.testOut) arrays.push(vectorArray('testOut', r.testOut), vectorArray('trueTestOut', r.trueTestOut!));
  return withFiles('nth', o.out, report, arrays);
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
