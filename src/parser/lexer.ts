/**
 * Tokens of the `.ntk` language and the lexer that produces them.
 *
 * Newlines are plain whitespace: statements are delimited by their leading keyword (and an
 * optional `;`), so the lexer never needs to know about lines except for positions.
 */
import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';
import type { Span } from './ast.ts';
import { error, type Diagnostic } from './diagnostics.ts';

// ---------------------------------------------------------------- skipped

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n\f\v]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

export const Comment = createToken({
  name: 'Comment',
  pattern: /#[^\r\n]*/,
  group: Lexer.SKIPPED,
});

// ---------------------------------------------------------------- names and keywords

/**
 * A token category matching an identifier or any keyword. Declarations consume their name as
 * `AnyName` so that `param data = 3` parses and gets one precise error ("'data' is a keyword")
 * instead of a cascade in which `data` starts a second, broken declaration.
 */
export const AnyName = createToken({ name: 'AnyName', pattern: Lexer.NA, label: 'a name' });

export const Ident = createToken({
  name: 'Ident',
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  label: 'a name',
  categories: [AnyName],
});

// `longer_alt: Ident` makes `data2` or `definition` an identifier rather than keyword + rest.
function keyword(word: string): TokenType {
  return createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(word),
    longer_alt: Ident,
    label: `'${word}'`,
    categories: [AnyName],
  });
}

export const Dim = keyword('dim');
export const Const = keyword('const');
export const Data = keyword('data');
export const Param = keyword('param');
export const Def = keyword('def');
export const Model = keyword('model');
export const Loss = keyword('loss');
export const Test = keyword('test');
export const Let = keyword('let');
export const For = keyword('for');
export const In = keyword('in');
export const Return = keyword('return');

/** The keywords that start a top-level declaration (used in error messages). */
export const declarationKeywords = ['dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test'];
export const keywords = [...declarationKeywords, 'let', 'for', 'in', 'return'];

// ---------------------------------------------------------------- literals

/**
 * `..` must be tried before `NumberLit`, and a number's fraction may not start with a second dot,
 * so that `0..H` is `0`, `..`, `H` (a `1.` followed by `.H` would otherwise swallow the range).
 */
export const DotDot = createToken({ name: 'DotDot', pattern: /\.\./, label: "'..'" });

export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /(?:\d+(?:\.(?!\.)\d*)?|\.\d+)(?:[eE][+-]?\d+)?/,
  label: 'a number',
});

export const StringLit = createToken({
  name: 'StringLit',
  pattern: /"(?:[^"\\\r\n]|\\.)*"/,
  label: 'a string',
});

/**
 * A string without its closing quote on the same line. It is lexed as a token of its own (in a
 * separate group, so the parser never sees it) to report one clear error instead of a cascade
 * of "unexpected character" errors for every character after the quote.
 */
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\r\n]|\\.)*\\?/,
  group: 'unterminated',
});

// ---------------------------------------------------------------- operators and punctuation

function punct(name: string, pattern: RegExp, text: string): TokenType {
  return createToken({ name, pattern, label: `'${text}'` });
}

export const Plus = punct('Plus', /\+/, '+');
export const Minus = punct('Minus', /-/, '-');
export const Star = punct('Star', /\*/, '*');
export const Slash = punct('Slash', /\//, '/');
export const At = punct('At', /@/, '@');
export const Caret = punct('Caret', /\^/, '^');
export const Equals = punct('Equals', /=/, '=');
export const Tilde = punct('Tilde', /~/, '~');
export const Colon = punct('Colon', /:/, ':');
export const Comma = punct('Comma', /,/, ',');
export const Semi = punct('Semi', /;/, ';');
export const LParen = punct('LParen', /\(/, '(');
export const RParen = punct('RParen', /\)/, ')');
export const LBracket = punct('LBracket', /\[/, '[');
export const RBracket = punct('RBracket', /\]/, ']');
export const LBrace = punct('LBrace', /\{/, '{');
export const RBrace = punct('RBrace', /\}/, '}');

/** Every token type, in matching order (chevrotain takes the first pattern that matches). */
export const allTokens: TokenType[] = [
  AnyName,
  WhiteSpace,
  Comment,
  Dim,
  Const,
  Data,
  Param,
  Def,
  Model,
  Loss,
  Test,
  Let,
  For,
  In,
  Return,
  Ident,
  DotDot,
  NumberLit,
  StringLit,
  UnterminatedString,
  Plus,
  Minus,
  Star,
  Slash,
  At,
  Caret,
  Equals,
  Tilde,
  Colon,
  Comma,
  Semi,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
];

/**
 * Chevrotain's grammar validations (ambiguities, lexer optimizability) cost ~60 ms at every
 * start of the command line; the grammar is fixed, so they run under the test suite (VITEST) or
 * with NTK_VALIDATE_GRAMMAR=1, and are skipped otherwise. (Read when the module loads: a process
 * restored from the start-up snapshot has its parser already built, so NTK_VALIDATE_GRAMMAR=1
 * needs NTK_SNAPSHOT=off there; see cli/snapshot.ts.)
 */
export const SKIP_VALIDATIONS = typeof process !== 'undefined' && process.env.VITEST === undefined && process.env.NTK_VALIDATE_GRAMMAR === undefined;

/** The lexer, built on first use like the parser (parser.ts: theParser). */
let lexer: Lexer | null = null;
const theLexer = (): Lexer => (lexer ??= new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: !SKIP_VALIDATIONS, skipValidations: SKIP_VALIDATIONS }));

// ---------------------------------------------------------------- spans

/** The span of one token (its `end` is exclusive, its `endCol` inclusive). */
export function tokenSpan(t: IToken): Span {
  return {
    line: t.startLine ?? 1,
    col: t.startColumn ?? 1,
    endLine: t.endLine ?? t.startLine ?? 1,
    endCol: t.endColumn ?? t.startColumn ?? 1,
    start: t.startOffset,
    end: (t.endOffset ?? t.startOffset) + 1,
  };
}

/** An empty span just after token `t` (or at the start of the file): where a missing token goes. */
export function spanAfter(t: IToken | undefined): Span {
  if (t === undefined || Number.isNaN(t.startOffset)) {
    return { line: 1, col: 1, endLine: 1, endCol: 1, start: 0, end: 0 };
  }
  const s = tokenSpan(t);
  return { line: s.endLine, col: s.endCol + 1, endLine: s.endLine, endCol: s.endCol + 1, start: s.end, end: s.end };
}

function rangeSpan(offset: number, length: number, line: number, col: number): Span {
  // Lexing errors never contain a newline (whitespace always lexes), so the range is on one line.
  return { line, col, endLine: line, endCol: col + length - 1, start: offset, end: offset + length };
}

// ---------------------------------------------------------------- strings

const escapes: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };

/**
 * The value of a string token: the text between the quotes with `\"`, `\\`, `\n` and `\t`
 * replaced. Unknown escapes are reported through `onBadEscape` (offset relative to the token) and
 * kept as the escaped character.
 */
export function unquote(image: string, onBadEscape?: (offset: number, seq: string) => void): string {
  let out = '';
  for (let i = 1; i < image.length - 1; i++) {
    const c = image[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = image[i + 1]!;
    const replaced = escapes[next];
    if (replaced === undefined) onBadEscape?.(i, `\\${next}`);
    out += replaced ?? next;
    i++;
  }
  return out;
}

// ---------------------------------------------------------------- entry point

export interface LexResult {
  tokens: IToken[];
  diagnostics: Diagnostic[];
  /**
   * Offset ranges [start, end) where text was lost to a lexing error, each from the end of the
   * token before it: a syntax error placed there is a consequence already reported.
   */
  damaged: { start: number; end: number }[];
}

/**
 * Splits `source` into tokens; every problem (unknown characters, unterminated strings, bad
 * escapes) becomes a diagnostic and lexing goes on, so that all of them are reported at once.
 *
 * @example
 * tokenize('dim n = 16 # sizes', 'm.ntk').tokens.map((t) => t.image) // ['dim', 'n', '=', '16']
 */
export function tokenize(source: string, file: string): LexResult {
  const result = theLexer().tokenize(source);
  const diagnostics: Diagnostic[] = [];
  const damaged: { start: number; end: number }[] = [];
  // The end of the last token before an offset, by binary search (tokens are in source order).
  const toks = result.tokens;
  const endOfTokenBefore = (offset: number): number => {
    let lo = 0, hi = toks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (toks[mid]!.startOffset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : (toks[lo - 1]!.endOffset ?? toks[lo - 1]!.startOffset) + 1;
  };
  for (const e of result.errors) {
    damaged.push({ start: endOfTokenBefore(e.offset), end: e.offset + e.length });
    const text = source.slice(e.offset, e.offset + Math.min(e.length, 40)) + (e.length > 40 ? '…' : '');
    const message =
      e.length === 1 ? `unexpected character '${text}'` : `unexpected characters '${text}'`;
    const span = rangeSpan(e.offset, e.length, e.line ?? 1, e.column ?? 1);
    diagnostics.push(error(file, span, message));
  }
  for (const t of result.groups['unterminated'] ?? []) {
    damaged.push({ start: endOfTokenBefore(t.startOffset), end: (t.endOffset ?? t.startOffset) + 1 });
    diagnostics.push(
      error(
        file,
        tokenSpan(t),
        'unterminated string: a string must be closed by \'"\' on the same line',
      ),
    );
  }
  for (const t of result.tokens) {
    if (t.tokenType !== StringLit) continue;
    unquote(t.image, (offset, seq) => {
      const line = t.startLine ?? 1;
      const col = (t.startColumn ?? 1) + offset;
      diagnostics.push(
        error(
          file,
          rangeSpan(t.startOffset + offset, seq.length, line, col),
          `unknown escape sequence '${seq}' in a string (use \\" \\\\ \\n or \\t)`,
        ),
      );
    });
  }
  diagnostics.sort((a, b) => (a.span?.start ?? 0) - (b.span?.start ?? 0));
  damaged.sort((a, b) => a.start - b.start);
  return { tokens: result.tokens, diagnostics, damaged };
}
