/**
 * What every study shares: the usage error a command maps to exit 2, the warnings a model
 * carries, diagnostics and arrays as the plain JSON values of the reports, the finiteness check
 * of results, and numbers given directly or by the name of a const of the model.
 */
import type { Model } from '../ir/model.ts';
import { NtkError, type Diagnostic } from '../parser/diagnostics.ts';

/**
 * A bad option value found by a study (a slice index past the outputs, a radius naming no const
 * of the model): the message starts with the option's name, and the CLI exits 2 on it.
 * @example lipReport(model, { radius: 'nope' }) // throws OptionError('--radius nope: neither a number nor a dim or const of the model')
 */
export class OptionError extends Error {}

/** A diagnostic as the reports hold it: severity, message, file, line and col (null without a span), hint. */
export interface DiagnosticJson {
  severity: Diagnostic['severity'];
  message: string;
  file: string;
  line: number | null;
  col: number | null;
  hint?: string;
}

/**
 * A diagnostic as the plain value the reports hold (line and col null without a span).
 * @example diagnosticJson({ severity: 'warning', file: 'm.ntk', span: null, message: 'x' }) // { severity: 'warning', message: 'x', file: 'm.ntk', line: null, col: null }
 */
export const diagnosticJson = (d: Diagnostic): DiagnosticJson => ({
  severity: d.severity, message: d.message, file: d.file, line: d.span?.line ?? null, col: d.span?.col ?? null, ...(d.hint ? { hint: d.hint } : {}),
});

/**
 * The model's warnings: the elaborator's, and one for a non-smooth model (relu, abs or sign),
 * whose second derivatives vanish almost everywhere (and its test outputs, when only they are).
 * @example modelWarnings(loadModel('examples/meanfield.ntk')) // []
 */
export function modelWarnings(m: Model): Diagnostic[] {
  const ds = [...m.diagnostics];
  if (m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: null, message: 'the model uses a non-smooth function (relu, abs or sign): second derivatives are zero almost everywhere and Lip(Dh) has no finite bound' });
  if (m.test?.nonSmooth && !m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: m.test.span, message: `the test outputs '${m.test.name}' use a non-smooth function (relu, abs or sign)` });
  return ds;
}

/**
 * A flat row-major array as nested JS arrays of the given shape (a number for shape []): the
 * reports' form of tensors, as JSON prints them.
 * @example nest([1, 2, 3, 4], [2, 2]) // [[1, 2], [3, 4]]
 */
export function nest(data: ArrayLike<number>, shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const build = (offset: number, axis: number): unknown[] => {
    const n = shape[axis]!;
    let stride = 1;
    for (let i = axis + 1; i < shape.length; i++) stride *= shape[i]!;
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = axis === shape.length - 1 ? data[offset + i] : build(offset + i * stride, axis + 1);
    return out;
  };
  return build(0, 0);
}

/** Throw a model error (exit 1) if a result holds NaN or ±Inf: where, and what to try. */
export function assertFinite(what: string, data: ArrayLike<number>, model: Model, hint: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!))
      throw new NtkError([{ severity: 'error', file: model.file, span: null, message: `${what} is ${data[i]} at entry ${i}`, hint }]);
  }
}

/** k = the number of outputs of h. */
export const outputCount = (m: Model) => m.outputShape.reduce((a, b) => a * b, 1);

/**
 * A number in `digits` significant digits (integers as they are), as the command line prints
 * numbers and as hints quote them.
 * @example formatNumber(0.1234567) // '0.123457'
 */
export function formatNumber(x: number, digits = 6): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e12) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e6) return String(Number(x.toPrecision(digits)));
  return x.toExponential(digits - 1);
}
