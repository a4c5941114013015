/**
 * The playground's studies, run inside the worker: the library's own studies (src/index.ts:
 * `checkReport`, `kernelReport`, `deriveReport`, `lipReport`, `flowStudy`, `nthReport`,
 * `limitKernels`) called with the options the CLI passes them, so that a report in the page is
 * the object `ntk COMMAND FILE --json` prints. This file only reads the page's option fields (as
 * the CLI parses its arguments) and adds what the page draws besides (`View`: the check's
 * summary lines, the NTK's spectrum, the flow's plot spec); it decides nothing about the numbers.
 */
import {
  checkReport,
  compile,
  deriveReport,
  flowPlotSpec,
  flowStudy,
  kernelReport,
  kernelSpectrum,
  limitKernels,
  lipReport,
  nthReport,
  vegaLiteSpec,
  type FlowMethod,
  type Model,
} from '../../src/index.ts';
import { BROWSER_MEMORY_BYTES } from '../shims/os.ts';
import type { Job, StudyName, StudyOptions, View } from './protocol.ts';

/** A usage problem (an option out of range): shown next to the run button, like the CLI's exit 2. */
export class UsageError extends Error {}

/** The declared data and parameters may take at most half the tab's budget (checked before allocating). */
export const MAX_MODEL_BYTES = BROWSER_MEMORY_BYTES / 2;

/** The model of a job (its data files are in the in-memory file system under /). */
export function modelOf(job: Job): Model {
  return compile(job.source, `/${job.file}`, { overrides: new Map(job.set), seed: job.seed, maxBytes: MAX_MODEL_BYTES });
}

/** A positive number field, or its default (the CLI's `positive` of src/cli/options.ts). */
function positive(name: string, v: number | undefined, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`${name} is needed`);
    return dflt;
  }
  if (!(Number.isFinite(v) && v > 0)) throw new UsageError(`${name} ${v}: expected a positive number`);
  return v;
}

/** An order field: an integer (the library checks its range and names it). */
function order(o: StudyOptions): number {
  const r = o.order ?? 2;
  if (!Number.isInteger(r)) throw new UsageError(`--order ${r}: expected an integer`);
  return r;
}

/** The width dims of `--width m[,m2]`. */
function widths(o: StudyOptions): string[] {
  const ws = (o.width ?? 'm').split(',').map((s) => s.trim()).filter(Boolean);
  if (ws.length === 0 || ws.some((w) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(w))) throw new UsageError(`--width ${o.width}: expected dim names, e.g. m (or m,m2)`);
  return ws;
}

type Progress = (label: string, done: number, total: number) => void;

/** The check's summary lines, as the CLI prints them (src/cli/options.ts `summaryHeader`). */
function summary(m: Model): [string, string][] {
  return [
    ['model', `${m.outputName} : [${m.outputShape.join(', ')}]`],
    ['parameters', `${m.paramCount} (${m.params.map((q) => `${q.name}[${q.shape.join(',')}]`).join(', ')})`],
    ['outputs', String(m.outputShape.reduce((a, b) => a * b, 1))],
    ...(m.test ? [['test outputs', `${m.test.name} : [${m.test.shape.join(', ')}]`] as [string, string]] : []),
    ['data', m.data.map((d) => `${d.name}[${d.shape.join(',')}]`).join(', ') || 'none'],
    ['loss', m.loss?.kind ?? 'none'],
  ];
}

/**
 * The report of `ntk STUDY FILE OPTIONS --json` (the library's object, unchanged) and what the
 * page draws besides it.
 */
export async function runStudy(study: StudyName, job: Job, o: StudyOptions, progress: Progress): Promise<{ report: unknown; view: View }> {
  const m = modelOf(job);
  switch (study) {
    case 'check':
      return { report: checkReport(m), view: { summary: summary(m) } };
    case 'kernel': {
      const report = kernelReport(m, { order: order(o), onProgress: (d, t) => progress('kernel', d, t) });
      const k = m.outputShape.reduce((a, b) => a * b, 1);
      if (report.order !== 2) return { report, view: {} };
      // The spectrum of K (its eigenvalues, ascending), drawn on a log axis, largest first.
      const values = Array.from(kernelSpectrum(Float64Array.from((report.K as number[][]).flat()), k).values);
      const desc = [...values].reverse();
      const spectrumPlot = vegaLiteSpec({ title: 'spectrum of the NTK', xLabel: 'i', yLabel: 'λ_i', logY: true, width: 220, height: 230, series: [{ name: 'eigenvalues', x: desc.map((_, i) => i + 1), y: desc, style: 'points' }] });
      return { report, view: { spectrum: values, spectrumPlot } };
    }
    case 'derive':
      return { report: await deriveReport(m, { order: order(o) }), view: {} }; // async: mathjs's closed forms load on first use
    case 'lip':
      return { report: lipReport(m, { radius: positive('--radius', o.radius), seed: job.seed, onPhase: (what) => progress(what, 0, 1) }), view: {} };
    case 'nth':
      return { report: nthReport(m, { order: order(o), T: positive('--T', o.T), alpha: positive('--alpha', o.alpha, 1) }), view: {} };
    case 'flow': {
      // As `ntk flow FILE --alpha A --T T --plot flow.svg`: the plot's times are in the trajectory.
      const r = await flowStudy(m, {
        alpha: positive('--alpha', o.alpha, 1), T: positive('--T', o.T), plotTimes: true, method: (o.method ?? 'auto') as FlowMethod,
        overrides: new Map(job.set),
        // What runs besides the integration (the Lipschitz estimate): a phase without a measure.
        onStatus: (what) => progress(what, 0, 1),
        onProgress: (t, T) => progress('flow', Math.round((1000 * t) / T), 1000),
      });
      return { report: r, view: { plot: vegaLiteSpec(flowPlotSpec(r, job.file, m.nonSmooth)) } };
    }
    case 'limit': {
      const ws = widths(o);
      return { report: limitKernels(m, { width: ws, overrides: new Map(job.set), ...(o.tol === undefined ? {} : { tol: o.tol }) }), view: {} };
    }
  }
}
