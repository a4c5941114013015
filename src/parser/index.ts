/**
 * The parser's public entry points: text → AST, with every lexing and syntax error as a
 * `Diagnostic` (file:line:col ranges) rather than an exception.
 */
import type { IRecognitionException, IToken } from 'chevrotain';
import type { Expr, Program, Span } from './ast.ts';
import { error, type Diagnostic } from './diagnostics.ts';
import { spanAfter, tokenize, tokenSpan, type LexResult } from './lexer.ts';
import { parseTokens } from './parser.ts';
import { capDiagnostics, MAX_DIAGNOSTICS, nestingError, notText } from './limits.ts';
import { buildExpression, buildProgram } from './visitor.ts';

export type { Diagnostic } from './diagnostics.ts';

/**
 * Where a syntax error is shown: the offending token, except when that token is the end of the
 * file or sits on a later line than the previous token — then the problem is something missing,
 * and the caret goes just after the previous token (an empty span, `start === end`).
 */
function errorSpan(e: IRecognitionException, tokens: IToken[]): Span {
  const actual = e.token;
  const previous = (e as { previousToken?: IToken }).previousToken ?? previousOf(actual, tokens);
  const atEof = Number.isNaN(actual.startOffset);
  const usablePrevious = previous !== undefined && !Number.isNaN(previous.startOffset) ? previous : undefined;
  if (atEof) return spanAfter(usablePrevious ?? tokens[tokens.length - 1]);
  if (
    usablePrevious !== undefined &&
    usablePrevious.startOffset < actual.startOffset &&
    (actual.startLine ?? 0) > (usablePrevious.endLine ?? 0)
  ) {
    return spanAfter(usablePrevious);
  }
  return tokenSpan(actual);
}

/** The last token starting before `t` (binary search: tokens are in source order). */
function previousOf(t: IToken, tokens: IToken[]): IToken | undefined {
  if (Number.isNaN(t.startOffset)) return tokens[tokens.length - 1];
  let lo = 0, hi = tokens.length; // first index with startOffset ≥ t.startOffset
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokens[mid]!.startOffset < t.startOffset) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? tokens[lo - 1] : undefined;
}

/**
 * Whether `offset` lies in one of the damaged ranges (sorted by start): with maxEnd[i] the
 * largest end among the first i + 1 ranges, offset is inside one of those starting at or
 * before it iff maxEnd at the last such range reaches it. Binary search.
 */
function damagedTest(damaged: { start: number; end: number }[]): (offset: number) => boolean {
  const maxEnd = new Float64Array(damaged.length);
  damaged.forEach((r, i) => (maxEnd[i] = Math.max(r.end, i > 0 ? maxEnd[i - 1]! : -Infinity)));
  return (offset) => {
    let lo = 0, hi = damaged.length; // first range with start > offset
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (damaged[mid]!.start <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && maxEnd[lo - 1]! >= offset;
  };
}

function syntaxDiagnostics(errors: IRecognitionException[], lexed: LexResult, file: string): Diagnostic[] {
  const located = errors
    .map((e) => ({ e, span: errorSpan(e, lexed.tokens) }))
    .sort((a, b) => a.span.start - b.span.start);
  const out: Diagnostic[] = [];
  const inDamaged = damagedTest(lexed.damaged);
  let lastLine = -1;
  for (const { e, span } of located) {
    // `model h = "abc` or `param w = $`: the lexer has already said what is wrong there.
    if (inDamaged(span.start)) continue;
    // After an error, recovery resynchronizes at some token of the same line and often reports
    // a consequence of the first error there (`z 1= tanh(x)` would give three). One syntax
    // error per line keeps the real one; errors on other lines are all reported.
    if (span.line === lastLine) continue;
    lastLine = span.line;
    out.push(error(file, span, e.message));
  }
  return out;
}

function keywordDiagnostics(names: IToken[], file: string): Diagnostic[] {
  return names.map((t) => error(file, tokenSpan(t), `'${t.image}' is a keyword and cannot be used as a name`));
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return (a.span?.start ?? 0) - (b.span?.start ?? 0);
}

/**
 * Parses a whole `.ntk` program. All lexing and syntax errors are reported (the parser recovers
 * and goes on); `program` is null exactly when there is at least one error.
 *
 * @example
 * const { program, diagnostics } = parseProgram('param w = 0\nmodel h = w^2', 'm.ntk');
 * // program.decls.map((d) => d.kind) → ['param', 'model'];  diagnostics → []
 *
 * parseProgram('model h = ', 'm.ntk').diagnostics[0].message
 * // → "expected an expression after '='"
 */
export function parseProgram(source: string, file: string): { program: Program | null; diagnostics: Diagnostic[] } {
  const early = refuse(source, file);
  if (early) return { program: null, diagnostics: early };
  const lexed = tokenize(source, file);
  const deep = nestingError(lexed.tokens, file);
  if (deep) return { program: null, diagnostics: capDiagnostics([...lexed.diagnostics, deep].sort(byPosition), file) };
  if (lexed.diagnostics.length > MAX_DIAGNOSTICS) return { program: null, diagnostics: capDiagnostics(lexed.diagnostics, file) };
  const { cst, errors, keywordNames } = parseTokens(lexed.tokens, 'program');
  const diagnostics = capDiagnostics([
    ...lexed.diagnostics,
    ...syntaxDiagnostics(errors, lexed, file),
    ...keywordDiagnostics(keywordNames, file),
  ].sort(byPosition), file);
  if (diagnostics.length > 0) return { program: null, diagnostics };
  const built = buildProgram(cst, source, file);
  if (built.diagnostics.length > 0) return { program: null, diagnostics: built.diagnostics };
  return { program: built.program, diagnostics: [] };
}

/**
 * Parses a single expression, e.g. the value of `--set T=1000` or `--set R0=sqrt(2)/2`. The
 * `file` names the origin in diagnostics (for example `'--set T'`).
 *
 * @example
 * const { expr } = parseExpression('-x^2', '--set');
 * // expr → { kind: 'unary', op: '-', operand: { kind: 'binary', op: '^', … } }
 */
export function parseExpression(source: string, file: string): { expr: Expr | null; diagnostics: Diagnostic[] } {
  const early = refuse(source, file);
  if (early) return { expr: null, diagnostics: early };
  const lexed = tokenize(source, file);
  const deep = nestingError(lexed.tokens, file);
  if (deep) return { expr: null, diagnostics: [deep] };
  const { cst, errors } = parseTokens(lexed.tokens, 'expression');
  const diagnostics = capDiagnostics([...lexed.diagnostics, ...syntaxDiagnostics(errors, lexed, file)].sort(byPosition), file);
  if (diagnostics.length > 0) return { expr: null, diagnostics };
  const built = buildExpression(cst, file);
  if (built.diagnostics.length > 0) return { expr: null, diagnostics: built.diagnostics };
  return { expr: built.expr, diagnostics: [] };
}

/** What is refused before lexing: a source that is not text. */
function refuse(source: string, file: string): Diagnostic[] | null {
  const d = notText(source, file);
  return d ? [d] : null;
}

export type * from './ast.ts';
export { MAX_NESTING, MAX_DIAGNOSTICS } from './limits.ts';
export { formatDiagnostic, NtkError } from './diagnostics.ts';
