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

/** The widest source excerpt echoed under a message. */
const ECHO_WIDTH = 160;

/** Control characters as \uXXXX in messages (a NUL or an escape sequence is never echoed raw). */
function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** C0 controls (but tab) as their Unicode control pictures, one column each (carets stay aligned). */
function pictureControl(s: string): string {
  return s.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) => (c === '\u007f' ? '\u2421' : String.fromCharCode(0x2400 + c.charCodeAt(0))));
}

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
  const lines = [`${where}: ${d.severity}: ${escapeControl(d.message)}`];
  if (d.span && source !== undefined && d.span.start <= source.length) {
    // The line around the span's offset (no split of the whole source: linear in the line, and
    // a huge one-line file is shown as a window of ECHO_WIDTH characters around the column).
    const from = source.lastIndexOf('\n', d.span.start - 1) + 1;
    let to = source.indexOf('\n', d.span.start);
    if (to < 0) to = source.length;
    let text = source.slice(from, to).replace(/\r$/, '');
    let col = d.span.col;
    const width = d.span.endLine === d.span.line ? Math.max(1, Math.min(ECHO_WIDTH, d.span.endCol - d.span.col + 1)) : 1;
    if (text.length > ECHO_WIDTH) {
      const lo = Math.max(0, Math.min(col - 1 - ECHO_WIDTH / 2, text.length - ECHO_WIDTH));
      text = `${lo > 0 ? '…' : ''}${text.slice(lo, lo + ECHO_WIDTH)}${lo + ECHO_WIDTH < text.length ? '…' : ''}`;
      col = col - lo + (lo > 0 ? 1 : 0);
    }
    lines.push(`  ${pictureControl(text)}`);
    lines.push(`  ${' '.repeat(Math.max(0, col - 1))}${'^'.repeat(width)}`);
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}
