/**
 * Errors are values with source ranges until the CLI prints them (DESIGN.md, convention 6).
 *
 * Every phase that can reject a user's program (lexing, parsing, elaboration, data loading)
 * produces `Diagnostic`s; `formatDiagnostic` renders the classic
 *
 *     model.ntk:3:14: error: unknown name 'x'
 *       model h = w + x
 *                     ^
 */
import type { Span } from './ast.ts';

/**
 * How bad a `Diagnostic` is: an error stops the model; a warning or a note does not.
 */
export type Severity = 'error' | 'warning' | 'note';

/**
 * A located message about a model: `file:line:col: severity: message` once formatted
 * (`formatDiagnostic`). `span` is null for messages about the whole file or an option.
 */
export interface Diagnostic {
  severity: Severity;
  message: string;
  /** The file the span refers to (the .ntk file, or a data file for a malformed .npy). */
  file: string;
  /** null when the problem has no place in the source (e.g. a model without parameters). */
  span: Span | null;
  /** Optional further lines, e.g. "did you mean 'sigmoid'?". */
  hint?: string;
}

/**
 * An exception that carries diagnostics through code paths that cannot return them.
 * @example try { parseModel('model h = w') } catch (e) { if (e instanceof NtkError) console.error(e.diagnostics.map((d) => formatDiagnostic(d)).join('\n')) }
 */
export class NtkError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('; '));
    this.name = 'NtkError';
    this.diagnostics = diagnostics;
  }
}

export function error(file: string, span: Span | null, message: string, hint?: string): Diagnostic {
  return hint === undefined
    ? { severity: 'error', message, file, span }
    : { severity: 'error', message, file, span, hint };
}

/** Throws an `NtkError` with a single error diagnostic. */
export function fail(file: string, span: Span | null, message: string, hint?: string): never {
  throw new NtkError([error(file, span, message, hint)]);
}

/** A span covering `a` through `b`. */
export function joinSpans(a: Span, b: Span): Span {
  return {
    line: a.line,
    col: a.col,
    endLine: b.endLine,
    endCol: b.endCol,
    start: a.start,
    end: b.end,
  };
}

/**
 * `file:line:col: severity: message`, then (when the source is known) the source line and a
 * caret line underlining the span (on its first line only), then the hint if any.
 * @example formatDiagnostic(e.diagnostics[0], source)   // "toy.ntk:2:13: error: unknown name 'x'" + the line and a caret
 */
export function formatDiagnostic(d: Diagnostic, source?: string): string {
  const where = d.span ? `${d.file}:${d.span.line}:${d.span.col}` : d.file;
  const lines = [`${where}: ${d.severity}: ${d.message}`];
  if (d.span && source !== undefined) {
    const text = source.split(/\r?\n/)[d.span.line - 1];
    if (text !== undefined) {
      const width =
        d.span.endLine === d.span.line ? Math.max(1, d.span.endCol - d.span.col + 1) : 1;
      lines.push(`  ${text}`);
      lines.push(`  ${' '.repeat(Math.max(0, d.span.col - 1))}${'^'.repeat(width)}`);
    }
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}
