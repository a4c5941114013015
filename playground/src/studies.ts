/**
 * The playground's studies: what `ntk check|kernel|flow|lip|derive|nth FILE --json` print, from
 * the same library calls (src/index.ts) with the CLI's defaults, so that a number in the page is
 * the number in the terminal. Runs inside the worker.
 */
import {
  compile,
  describeKernel,
  estimateEntries,
  flow,
  flowPlotSpec,
  flowPlotTimes,
  accuracyFrom,
  kernel,
  kernelSpectrum,
  lipschitz,
  lipReport,
  loss,
  nonSmoothWarning,
  nth,
  vegaLiteSpec,
  MAX_ORDER,
  NtkError,
  type Diagnostic,
  type FlowMethod,
  type Model,
  nest,
} from '../../src/index.ts';
import { BROWSER_MEMORY_BYTES } from '../shims/os.ts';
import type { Job, StudyName, StudyOptions } from './protocol.ts';

/** A usage problem (an option out of range): shown next to the run button, like the CLI's exit 2. */
export class UsageError extends Error {}

const diagJson = (d: Diagnostic) => ({ severity: d.severity, message: d.message, file: d.file, line: d.span?.line ?? null, col: d.span?.col ?? null, ...(d.hint ? { hint: d.hint } : {}) });

/** The declared data and parameters may take at most half the tab's budget (checked before allocating). */
export const MAX_MODEL_BYTES = BROWSER_MEMORY_BYTES / 2;

/** The model of a job (its data files are in the in-memory file system under /). */
export function modelOf(job: Job): Model {
  return compile(job.source, `/${job.file}`, { overrides: new Map(job.set), seed: job.seed, maxBytes: MAX_MODEL_BYTES });
}

function warnings(m: Model): Diagnostic[] {
  const ds = [...m.diagnostics];
  if (m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: null, message: 'the model uses a non-smooth function (relu, abs or sign): second derivatives are zero almost everywhere and Lip(Dh) has no finite bound' });
  return ds;
}

function order(o: StudyOptions): number {
  const r = o.order ?? 2;
  if (!Number.isInteger(r) || r < 2 || r > MAX_ORDER) throw new UsageError(`--order ${r}: expected an integer from 2 (the NTK) to ${MAX_ORDER}`);
  return r;
}

function positive(name: string, v: number | undefined, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`${name} is needed`);
    return dflt;
  }
  if (!(Number.isFinite(v) && v > 0)) throw new UsageError(`${name} ${v}: expected a positive number`);
  return v;
}

function checkFinite(what: string, data: ArrayLike<number>, m: Model, hint: string): void {
  for (let i = 0; i < data.length; i++)
    if (!Number.isFinite(data[i]!)) throw new NtkError([{ severity: 'error', file: m.file, span: null, message: `${what} is ${data[i]} at entry ${i}`, hint }]);
}

type Progress = (label: string, done: number, total: number) => void;

/** The CLI's `--json` object of a study (plus what the page draws: a spectrum, a plot spec). */
export function runStudy(study: StudyName, job: Job, o: StudyOptions, progress: Progress): unknown {
  const m = modelOf(job);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  switch (study) {
    case 'check':
      return {
        ok: true, params: m.paramCount, outputs: k, ...(m.test ? { testOutputs: m.test.shape.reduce((a, b) => a * b, 1) } : {}), diagnostics: warnings(m).map(diagJson),
        summary: { model: `${m.outputName} : [${m.outputShape.join(', ')}]`, parameters: m.params.map((q) => `${q.name}[${q.shape.join(',')}]`), data: m.data.map((d) => `${d.name}[${d.shape.join(',')}]`), loss: m.loss?.kind ?? null },
      };
    case 'kernel': {
      const r = order(o);
      const K = kernel(m, r, { onProgress: (d, t) => progress('kernel', d, t) });
      checkFinite(`K^(${r})(w0)`, K.data, m, 'check the initial weights and data scale');
      const warning = K.warnings[0] ?? null;
      const spectrum = r === 2 ? Array.from(kernelSpectrum(K.data.slice(), k).values) : null;
      return { order: r, shape: K.shape, K: nest(K.data, K.shape), slice: [], structure: K.structure, ...(warning ? { warnings: [warning] } : {}), spectrum };
    }
    case 'derive': {
      const r = order(o);
      const plain = describeKernel(m, r);
      const latex = describeKernel(m, r, { latex: true }).text;
      const warning = nonSmoothWarning(m, r);
      return { order: r, outputs: k, form: plain.form, text: plain.text, latex, ...(warning ? { warnings: [warning] } : {}) };
    }
    case 'lip': {
      const radius = positive('--radius', o.radius);
      // The CLI's report with the CLI's defaults (the search's restarts, steps and budget).
      return lipReport(m, { radius, seed: job.seed });
    }
    case 'nth': {
      const p = order(o);
      const T = positive('--T', o.T);
      const alpha = positive('--alpha', o.alpha, 1);
      const rtol = positive('--rtol', o.rtol, 1e-10);
      if (!m.loss) throw new UsageError(`${job.file} declares no loss: the hierarchy's flow needs one`);
      const r = nth(m, p, { T, alpha, rtol });
      const warning = nonSmoothWarning(m, p);
      return {
        order: p, T, alpha, out: Array.from(r.out), trueOut: Array.from(r.trueOut!), error: r.error,
        K2: nest(r.K2, [k, k]), trueK2: nest(r.trueK2!, [k, k]), stats: r.stats,
        ...(r.testOut ? { testOut: Array.from(r.testOut), trueTestOut: Array.from(r.trueTestOut!), testError: r.testError } : {}),
        ...(warning ? { warnings: [warning] } : {}),
      };
    }
    case 'flow':
      return flowStudy(m, job, o, progress);
  }
}

/** Stored derivative entries up to which `flow` estimates the Lipschitz constants itself (the CLI's FLOW_LIP_ENTRIES). */
const FLOW_LIP_ENTRIES = 5e5;

/** `ntk flow FILE --alpha A --T T --plot x.svg --json`: the flow, its accuracy check, the bounds and the plot. */
function flowStudy(m: Model, job: Job, o: StudyOptions, progress: Progress): unknown {
  const alpha = positive('--alpha', o.alpha, 1);
  const T = positive('--T', o.T);
  const rtol = o.rtol === undefined ? undefined : positive('--rtol', o.rtol);
  const method = (o.method ?? 'auto') as FlowMethod;
  const times = flowPlotTimes(T);
  let lipDh: number | null = null, lipH: number | null = null, radius: number | null = null;
  let lipEstimate: ReturnType<typeof lipschitz> | null = null;
  let lipSkipped: string | null = null;
  if (m.loss?.kind === 'square') {
    const ball = Math.sqrt(T * loss(m, { alpha })) / alpha;
    const entries = estimateEntries(m);
    if (entries > FLOW_LIP_ENTRIES) lipSkipped = `no automatic Lipschitz estimate: its certified bounds would store about ${entries.toExponential(1)} derivative entries (the flow allows ${FLOW_LIP_ENTRIES.toExponential(0)})`;
    else if (ball > 0) {
      radius = ball;
      progress('Lipschitz estimate', 0, 1);
      lipEstimate = lipschitz(m, { radius, timeBudgetMs: 10_000 });
      lipDh = lipEstimate.lipDh.upper;
      lipH = lipEstimate.lipH.upper;
    }
  }
  const r = flow(m, { alpha, T, times, rtol, lipDh, lipH, radius, method, accuracy: false, onProgress: (t) => progress('flow', Math.round((1000 * t) / T), 1000) });
  if (lipSkipped) r.warnings.push(lipSkipped);
  if (m.loss) {
    // The CLI runs this second, independent solve on a worker thread; here it follows the flow.
    progress('accuracy check', 0, 1);
    r.errorAccuracy = accuracyFrom(r, flow(m, { alpha, T, ...(rtol === undefined ? {} : { rtol }), method, check: true }));
  }
  const b = r.theory; // every bound with its note and horizon (the flat keys: r.bound, r.chizatBound, …)
  const lipSource = lipEstimate ? 'estimated' : null;
  return {
    alpha: r.alpha, T: r.T, R0: r.R0, kappa: b.kappa, lipDh: r.lipDh, lipH: r.lipH, radius: r.radius, lipSource,
    lipEstimate: lipEstimate && {
      radius: lipEstimate.radius,
      lipH: { lower: lipEstimate.lipH.lower, upper: lipEstimate.lipH.upper, note: lipEstimate.lipH.note },
      lipDh: { lower: lipEstimate.lipDh.lower, upper: lipEstimate.lipDh.upper, note: lipEstimate.lipDh.note },
      time: lipEstimate.time.total,
    },
    error: r.error, errorAccuracy: r.errorAccuracy, errorFloor: r.errorFloor, variables: r.variables,
    bound: b.theorem12.value, sharpBound: b.theorem12Sharp.value, chizatBound: b.prop11.value, weightBound: b.prop31.value,
    boundNotes: { theorem12: b.theorem12.note, prop11: b.prop11.note },
    horizons: { theorem12: b.theorem12.horizon, prop11: b.prop11.horizon },
    weightChange: r.weightChange, linWeightChange: r.linWeightChange, maxWeightChange: r.maxWeightChange, stayedInBall: r.stayedInBall,
    loss: r.loss, linLoss: r.linLoss, out: Array.from(r.out), linOut: Array.from(r.linOut),
    ...(r.test ? { testOut: Array.from(r.test.out), linTestOut: Array.from(r.test.linOut), testError: r.test.error } : {}),
    trajectory: r.trajectory, method: r.method, stats: r.stats, kernel: r.kernel, warnings: r.warnings,
    plot: vegaLiteSpec(flowPlotSpec(r, job.file, m.nonSmooth)),
  };
}
