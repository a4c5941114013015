/**
 * The front end's limits on hostile input (issue 21): every check here runs in time linear in
 * the input and turns what would be a hang, a stack overflow or a flood of messages into one
 * located diagnostic.
 *
 *  - A file that is not text (a NUL byte, or more than a few percent of control characters and
 *    invalid UTF-8) is refused at the first such character, before lexing.
 *  - Nesting deeper than MAX_NESTING is refused at the token that exceeds it, before parsing: the
 *    parser, the CST → AST builder and the elaborator recurse once per level of brackets and
 *    prefix operators, and MAX_NESTING keeps every one of them far from the stack's end.
 *  - At most MAX_DIAGNOSTICS diagnostics are reported, then a note says how many were left out.
 *  - Control characters are shown escaped (`\u0000`) in messages, and as the Unicode control
 *    pictures (␀, one column each, so carets stay aligned) in echoed source lines
 *    (`formatDiagnostic`).
 */
import type { IToken } from 'chevrotain';
import type { Span } from './ast.ts';
import { error, type Diagnostic } from './diagnostics.ts';
import { tokenSpan } from './lexer.ts';

/**
 * The deepest nesting of brackets ( [ { and prefix operators (unary − and +, the exponent of ^)
 * accepted in a program. Counted as the parser recurses: `((w))` is 2, `-(-w)` is 3, `a^b^c` is 2.
 * A nested call is the costliest level (about 50 stack frames of the chevrotain parser): at the
 * default stack of ~1 MB, calls overflow at ~130 levels and parentheses at ~200, so 64 leaves a
 * margin of 2 (the whole front end is tested at 64 levels with 60% of the default stack,
 * `node --stack-size=600`, in test/parser/limits.test.ts).
 */
export const MAX_NESTING = 64;

/** Diagnostics reported per run before the rest are summarized in one note. */
export const MAX_DIAGNOSTICS = 100;

/** Lines and columns of an offset, computed once per source (linear). */
export function spanAt(source: string, offset: number, length = 1): Span {
  let line = 1, col = 1;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) { line++; col = 1; } else col++;
  }
  return { line, col, endLine: line, endCol: col + Math.max(0, length - 1), start: offset, end: offset + length };
}

const isBadChar = (c: number) =>
  c === 0xfffd || (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 11) || c === 127;

/**
 * A diagnostic if `source` is not text: a NUL anywhere, or control characters and invalid UTF-8
 * (U+FFFD after decoding) making up more than 2% of it (at least 8 of them). Linear, a few ms per MB.
 * @example notText('\u0000\u0001', 'x.ntk')?.message // "the file is not text: …"
 */
export function notText(source: string, file: string): Diagnostic | null {
  let bad = 0, first = -1;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0) {
      return error(file, spanAt(source, i), `the file is not text: a NUL byte (\\u0000) at offset ${i}; a .ntk model is UTF-8 text`);
    }
    if (isBadChar(c)) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad >= 8 && bad > 0.02 * source.length)
    return error(file, spanAt(source, first), `the file is not text: ${bad} of its ${source.length} characters are control characters or invalid UTF-8; a .ntk model is UTF-8 text`);
  return null;
}

/**
 * The first token at which the nesting of brackets and prefix operators exceeds MAX_NESTING,
 * as a diagnostic, or null. One pass over the tokens: a stack of the prefix operators pending
 * at each open bracket; a prefix operator (a sign where an operand is expected, or ^) adds one
 * level that a binary operator, a separator or the closing bracket ends.
 */
export function nestingError(tokens: IToken[], file: string, limit = MAX_NESTING): Diagnostic | null {
  const stack: number[] = [];
  let brackets = 0, pendingTotal = 0, pending = 0;
  let operandEnded = false;
  for (const t of tokens) {
    const s = t.image;
    let opened = false;
    if (s === '(' || s === '[' || s === '{') {
      stack.push(pending);
      pendingTotal += pending;
      pending = 0;
      brackets++;
      opened = true;
      operandEnded = false;
    } else if (s === ')' || s === ']' || s === '}') {
      if (stack.length) {
        pending = stack.pop()!;
        pendingTotal -= pending;
        brackets--;
      }
      operandEnded = true;
      continue;
    } else if (s === '^' || ((s === '-' || s === '+') && !operandEnded)) {
      pending++;
      operandEnded = false;
    } else if (s === '+' || s === '-' || s === '*' || s === '/' || s === '@' || s === ',' || s === '=' || s === ':' || s === ';' || s === '..' || s === '~') {
      pending = 0;
      operandEnded = false;
    } else {
      operandEnded = true;
    }
    if (brackets + pendingTotal + pending > limit) {
      const what = opened ? 'brackets' : 'brackets and prefix operators';
      return error(file, tokenSpan(t), `nesting deeper than ${limit} levels of ${what}: simplify the expression (the limit keeps the parser within its stack)`);
    }
  }
  return null;
}


/** At most MAX_DIAGNOSTICS diagnostics, the rest summarized by a note at the last one shown. */
export function capDiagnostics(list: Diagnostic[], file: string): Diagnostic[] {
  if (list.length <= MAX_DIAGNOSTICS) return list;
  const shown = list.slice(0, MAX_DIAGNOSTICS);
  return [...shown, { severity: 'note', message: `${list.length - MAX_DIAGNOSTICS} more errors not shown`, file, span: null }];
}
