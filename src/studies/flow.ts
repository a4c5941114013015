/**
 * The study of `ntk flow`: the gradient flow of α·h next to its linearization, with everything
 * the command decides around the integration — the Lipschitz constants (given, or estimated by
 * the certified bounds of `lipschitz` on a ball that holds the whole trajectory), the achieved
 * accuracy of E(T) (a second, looser solve on a worker thread), and the report whose keys
 * `ntk flow --json` prints. And `ntk flow --lr η --steps N`: gradient descent next to its
 * linearization (`descentReport`).
 */
import type { Model } from '../ir/model.ts';
import { checkFlowStart, ensureFlowMemory, flow, accuracyFrom, FlowError, type FlowMethod, type FlowPoint, type FlowResult } from '../dynamics/flow.ts';
import { gradientDescent } from '../dynamics/descent.ts';
import type { Rates, RatesInfo } from '../ir/rates.ts';
import { constantOf } from '../dynamics/sweep.ts';
import type { LipResult } from '../lip/index.ts';
import { LipUsageError } from '../lip/index.ts';
import { flowLipschitz } from '../dynamics/flow-lip.ts';
import { startFlowCheck } from './flow-check.ts';
import { flowPlotTimes } from '../plot/spec.ts';
import { OptionError, outputCount } from './common.ts';
import type { StepWatchState } from '../dynamics/step-watch.ts';

export { FLOW_LIP_ENTRIES } from '../dynamics/flow-lip.ts';

/** Options of `flowStudy`: those of `flow`, the constants by value or by name, and the Lipschitz policy. */
export interface FlowStudyOptions {
  alpha: number;
  /** The horizon: a number, or the name of a dim/const of the model (`--T T`). */
  T: number | string;
  /** Times in (0, T] at which to also report E(t) (in `trajectory`). */
  times?: number[];
  /** Also the 48 log-spaced times of a plot of E(t) against the bounds (`flowPlotTimes`). */
  plotTimes?: boolean;
  method?: FlowMethod;
  /** Relative tolerance on δ = w − w̄ (default: the method's own, `FlowOptions.rtol`). */
  rtol?: number;
  /** Known constants on B(w0, ρ): numbers or names of consts of the model. */
  lipDh?: number | string | null;
  lipH?: number | string | null;
  radius?: number | string | null;
  /**
   * Without lipDh and lipH: estimate them (default true) as the certified upper bounds of
   * `lipschitz` on B(w0, ρ) with ρ = radius or √(T·R0)/α (Proposition 3.1: the whole
   * trajectory stays in it), when the model is small enough (FLOW_LIP_ENTRIES).
   */
  lip?: boolean;
  /** The `--set` values the model was loaded with (quoted in the hint to run `ntk lip`). */
  overrides?: Map<string, number>;
  /** The solver's limits: attempted steps per solve, and wall-clock seconds (`FlowOptions`). */
  maxSteps?: number;
  maxTime?: number;
  /** The flow's progress: t of T and the solver's state (`FlowOptions.onProgress`). */
  onProgress?: (t: number, T: number, state?: StepWatchState) => void;
  /** What the study is doing when it is not integrating (the Lipschitz estimate, waiting for the check). */
  onStatus?: (what: string) => void;
}

/** Lip(h) and Lip(Dh) as estimated by the flow: attained lower and certified upper bounds. */
export interface FlowLipEstimate {
  radius: number;
  lipH: { lower: number; upper: number | null; note: string | null };
  lipDh: { lower: number; upper: number | null; note: string | null };
  /** Milliseconds. */
  time: number;
}

/**
 * The report of `ntk flow` (its JSON keys; vectors as arrays): the flow's scalars under the
 * names `flow()` gives them (`FlowResult`: E(T), the bounds `bound`, `sharpBound`,
 * `chizatBound`, `weightBound`, κ, the weight changes, …), where the constants came from, and
 * the outputs at T.
 */
export interface FlowReport
  extends Pick<
    FlowResult,
    | 'alpha' | 'T' | 'R0' | 'kappa' | 'lipDh' | 'lipH' | 'radius' | 'error' | 'errorAccuracy' | 'errorFloor' | 'variables' | 'bound' | 'sharpBound' | 'chizatBound' | 'weightBound'
    | 'boundNotes' | 'horizons' | 'weightChange' | 'linWeightChange' | 'maxWeightChange' | 'stayedInBall' | 'loss' | 'linLoss'
    | 'trajectory' | 'method' | 'stats' | 'kernel' | 'warnings'
  > {
  /** Where the constants came from: 'estimated' (by the flow), 'given', or null (unknown). */
  lipSource: 'estimated' | 'given' | null;
  lipEstimate: FlowLipEstimate | null;
  /** α·h(w(T)) and α·h̄(w̄(T)). */
  out: number[];
  linOut: number[];
  /** With a `test` declaration: α·g(w(T)), α·ḡ(w̄(T)) and their distance. */
  testOut?: number[];
  linTestOut?: number[];
  testError?: number;
}

/**
 * The flow of α·h next to its linearization, as `ntk flow` runs it: the constants resolved or
 * estimated, E(T) with its accuracy (the check solve on a worker thread when running from the
 * bundle, inline otherwise), the bounds, and the report.
 *
 * @example
 *   const r = await flowStudy(loadModel('examples/converse.ntk'), { alpha: 10, T: 100 });
 *   r.error <= r.bound!   // Theorem 1.2, with Lip(Dh) estimated on the ball of Prop. 3.1
 */
export async function flowStudy(m: Model, o: FlowStudyOptions): Promise<FlowReport> {
  const { alpha } = o;
  const T = constantOf(m, o.T)!;
  for (const t of o.times ?? []) if (!(t > 0 && t <= T)) throw new OptionError(`--times ${o.times!.join(',')}: '${t}' is not a time in (0, T = ${T}]`);
  const times = [...(o.times ?? []), ...(o.plotTimes ? flowPlotTimes(T) : [])];
  // A loss, finite α, T, h(w0) and R0: checked before the Lipschitz estimate and the solves.
  checkFlowStart(m, alpha, T);
  // the flow and, with a loss, its check solve on a worker thread at the same time
  ensureFlowMemory(outputCount(m), m.paramCount, m.loss?.kind === 'square', m.loss ? 2 : 1);
  let lipDh = constantOf(m, o.lipDh);
  let lipH = constantOf(m, o.lipH);
  let radius = constantOf(m, o.radius);
  const method = o.method ?? 'auto';
  const rtol = o.rtol;
  const limits = { ...(o.maxSteps === undefined ? {} : { maxSteps: o.maxSteps }), ...(o.maxTime === undefined ? {} : { maxTime: o.maxTime }) };
  // The accuracy check, a second independent solve, starts first: it runs on a worker thread
  // while this one estimates the Lipschitz constants and integrates the flow. The worker
  // elaborates the model again with every dim and const at its value here (the same model).
  // A model with per-parameter rates (`withRates`) is rebuilt there with the same rates.
  const rated = (m as Model & { rates?: RatesInfo }).rates;
  const check = m.loss
    ? startFlowCheck({ program: m.program, overrides: [...m.constants], seed: m.seed, alpha, T, rtol, method, ...limits, ...(rated ? { rates: rated.rates.map((q): [string, number] => [q.name, q.rate]) } : {}) })
    : null;
  let lipEstimate: LipResult | null = null;
  let lipSkipped: string | null = null;
  try {
    const lip = flowLipschitz(m, { alpha, T, lipDh, lipH, radius, lip: o.lip !== false, ...(o.overrides ? { overrides: o.overrides } : {}), ...(o.onStatus ? { onStatus: o.onStatus } : {}) });
    ({ lipDh, lipH, radius } = lip);
    lipEstimate = lip.estimate;
    lipSkipped = lip.skipped;
  } catch (e) {
    check?.cancel();
    // a radius the user gave that lipschitz refuses is a usage error of theirs
    if (e instanceof LipUsageError) throw new OptionError(`--radius ${o.radius}: ${e.message}`);
    throw e;
  }
  let r: FlowResult;
  try {
    r = flow(m, { alpha, T, times, rtol, lipDh, lipH, radius, method, accuracy: check === null, ...limits, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  } catch (e) {
    check?.cancel();
    throw e;
  }
  if (lipSkipped) r.warnings.push(lipSkipped);
  if (check) {
    // The check ran on the other core; an inline one only if it failed or took another method.
    o.onStatus?.('waiting for the accuracy check (a second, looser solve on another thread)');
    const c = await check.result;
    const accuracy = 'failure' in c ? null : accuracyFrom(r, c);
    r.errorAccuracy = accuracy ?? inlineCheck();
  }
  /** The check solve inline (the worker's failed or took another method); null if it stops too. */
  function inlineCheck(): number | null {
    try {
      return accuracyFrom(r, flow(m, { alpha, T, rtol, method, check: true, ...limits }));
    } catch (e) {
      if (e instanceof FlowError) return null;
      throw e;
    }
  }
  const lipSource = lipEstimate ? 'estimated' : lipDh !== null || lipH !== null ? 'given' : null;
  const estimate = lipEstimate && {
    radius: lipEstimate.radius,
    lipH: { lower: lipEstimate.lipH.lower, upper: lipEstimate.lipH.upper, note: lipEstimate.lipH.note },
    lipDh: { lower: lipEstimate.lipDh.lower, upper: lipEstimate.lipDh.upper, note: lipEstimate.lipDh.note },
    time: lipEstimate.time.total,
  };
  return {
    alpha: r.alpha, T: r.T, R0: r.R0, kappa: r.kappa, lipDh: r.lipDh, lipH: r.lipH, radius: r.radius, lipSource, lipEstimate: estimate,
    error: r.error, errorAccuracy: r.errorAccuracy, errorFloor: r.errorFloor, variables: r.variables,
    bound: r.bound, sharpBound: r.sharpBound, chizatBound: r.chizatBound, weightBound: r.weightBound,
    boundNotes: r.boundNotes, horizons: r.horizons,
    weightChange: r.weightChange, linWeightChange: r.linWeightChange, maxWeightChange: r.maxWeightChange, stayedInBall: r.stayedInBall,
    loss: r.loss, linLoss: r.linLoss, out: Array.from(r.out), linOut: Array.from(r.linOut),
    ...(r.test ? { testOut: Array.from(r.test.out), linTestOut: Array.from(r.test.linOut), testError: r.test.error } : {}),
    trajectory: r.trajectory, method: r.method, stats: r.stats, kernel: r.kernel, warnings: r.warnings,
  };
}

/** The report of `ntk flow --lr η --steps N` (its JSON keys). */
export interface DescentReport {
  alpha: number;
  /** The step size: η, or 1 with per-parameter rates (they are in the kernel). */
  lr: number;
  steps: number;
  /** The flow time the N steps stand for: η·N (N with per-parameter rates). */
  T: number;
  R0: number;
  error: number;
  weightChange: number;
  linWeightChange: number;
  loss: number;
  linLoss: number;
  out: number[];
  linOut: number[];
  /** η·λmax(K0): the linearized iteration converges iff it is below 2. */
  stability: number;
  /** ‖I − η K0‖: the linearized residual's contraction factor per step. */
  contraction: number;
  /** The rates by parameter (0: frozen), or null for one plain η. */
  rates: { name: string; rate: number }[] | null;
  /** The kernel of the iteration: 'Dh·Dhᵀ', or 'Dh·H·Dhᵀ with H = diag(…)'. */
  kernel: string;
  trajectory: FlowPoint[];
  warnings: string[];
}

/**
 * N steps of gradient descent on α·h and on its linearization (`gradientDescent`), with one rate
 * η or per-parameter rates (the others frozen; the step is then 1), E after each reported step;
 * `times` (flow times in (0, T]) are reported at the nearest step.
 * @example descentReport(loadModel('examples/meanfield.ntk'), { alpha: 4, lr: 0.1, steps: 50 }).error
 */
export function descentReport(m: Model, o: { alpha: number; lr: number | Rates; steps: number; times?: number[]; onProgress?: (done: number, total: number) => void }): DescentReport {
  const { alpha, steps } = o;
  const lr = typeof o.lr === 'number' ? o.lr : 1;
  const at = (o.times ?? []).map((t) => Math.max(1, Math.round(t / lr)));
  const r = gradientDescent(m, { alpha, lr: o.lr, steps, at, ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  return {
    alpha, lr, steps, T: r.T, R0: r.R0, error: r.error, weightChange: r.weightChange, linWeightChange: r.linWeightChange,
    loss: r.loss, linLoss: r.linLoss, out: Array.from(r.out), linOut: Array.from(r.linOut), stability: r.stability,
    contraction: r.contraction, rates: r.rates, kernel: r.kernel, trajectory: r.trajectory, warnings: r.warnings,
  };
}
