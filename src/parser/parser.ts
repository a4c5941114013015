/**
 * The grammar of `.ntk` as a chevrotain `CstParser`.
 *
 * Decisions that are not obvious from the rules themselves:
 *  - Newlines are whitespace. Top-level declarations start with a keyword, block statements with
 *    a keyword or `NAME =`, and an expression can never continue with a keyword or a bare name,
 *    so no separator is needed; `;` is accepted (and ignored) after any statement.
 *  - Precedence is encoded by one rule per level (additive < multiplicative < unary < power <
 *    postfix < primary). `^` takes a `unary` on its right, which makes it right associative and
 *    lets `2^-1` parse, while `-x^2` is `-(x^2)` because `unary` reaches `power` only after
 *    consuming its sign.
 *  - A call is only `NAME(args)` (inside `nameOrCall`); `[` after any postfix expression is
 *    indexing, so `[` starts an array literal only where an operand is expected.
 *  - A named argument is told from a positional one by two tokens of lookahead (`NAME =`).
 *  - `loss NAME(VAR) = expr` (custom) versus `loss square(named args)`: a gate looks for the
 *    exact shape `( NAME ) =`; anything else is parsed as a call-like argument list.
 *  - Binary chains record operands and operators under the labels `operands`/`ops`, so that the
 *    visitor gets both in source order.
 */
import { CstParser, EOF, type IToken, type TokenType, type IParserErrorMessageProvider } from 'chevrotain';
import { SKIP_VALIDATIONS } from './lexer.ts';
import {
  allTokens,
  AnyName,
  At,
  Caret,
  Colon,
  Comma,
  Const,
  Data,
  declarationKeywords,
  Def,
  Dim,
  DotDot,
  Equals,
  For,
  Ident,
  In,
  keywords,
  LBrace,
  LBracket,
  Let,
  Loss,
  LParen,
  Minus,
  Model,
  NumberLit,
  Param,
  Plus,
  RBrace,
  RBracket,
  Return,
  RParen,
  Semi,
  Slash,
  Star,
  StringLit,
  Test,
  Tilde,
} from './lexer.ts';

// ---------------------------------------------------------------- error messages

/**
 * The token vector being parsed, so that messages can find the bracket a missing closer should
 * match. Set by `parseTokens` for the duration of one parse.
 */
let activeTokens: IToken[] = [];

function isEof(t: IToken | undefined): boolean {
  return t === undefined || t.tokenType === EOF;
}

/** How a token is named in a message: `'xyz'`, `keyword 'data'`, or `end of file`. */
function describe(t: IToken): string {
  if (isEof(t)) return 'end of file';
  if (keywords.includes(t.image) && t.tokenType !== Ident) return `keyword '${t.image}'`;
  return `'${t.image}'`;
}

function label(tt: TokenType): string {
  if (tt === EOF) return 'end of file';
  return tt.LABEL ?? tt.name;
}

function indexOfToken(t: IToken): number {
  if (isEof(t) || Number.isNaN(t.startOffset)) return activeTokens.length;
  // Binary search by offset: tokens are sorted and offsets are unique.
  let lo = 0;
  let hi = activeTokens.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const o = activeTokens[mid]!.startOffset;
    if (o === t.startOffset) return mid;
    if (o < t.startOffset) lo = mid + 1;
    else hi = mid - 1;
  }
  return lo;
}

/** The unmatched opener (`(`, `[` or `{`) that a closer expected before token `at` would close. */
function findOpener(at: IToken, open: TokenType, close: TokenType): { opener: IToken; before: IToken | undefined } | null {
  let depth = 0;
  for (let i = indexOfToken(at) - 1; i >= 0; i--) {
    const t = activeTokens[i]!;
    if (t.tokenType === close) depth++;
    else if (t.tokenType === open) {
      if (depth === 0) return { opener: t, before: activeTokens[i - 1] };
      depth--;
    }
  }
  return null;
}

function where(t: IToken): string {
  return `${t.startLine}:${t.startColumn}`;
}

const statementStart = "a statement ('let', 'for', 'return' or 'NAME = …')";
const declarationStart = `a declaration (${declarationKeywords.map((k) => `'${k}'`).join(', ')})`;

/**
 * The message for a missing closer. When the closer is plainly missing (end of file, a new line,
 * a declaration keyword) the message names what it should close; when some other token stands in
 * its place, the message names that token and what could have come instead.
 */
function closerMessage(expected: TokenType, actual: IToken, previous: IToken, ruleName: string): string | null {
  const missing =
    isEof(actual) ||
    isEof(previous) ||
    (actual.startLine ?? 0) > (previous.endLine ?? 0) ||
    (declarationKeywords.includes(actual.image) && actual.tokenType !== Ident);
  const say = (closer: string, what: string, listy: boolean) =>
    missing
      ? `expected '${closer}' to close ${what}`
      : `unexpected ${describe(actual)}: expected ${listy ? `',' or ` : ''}'${closer}' to close ${what}`;

  if (expected === RParen) {
    const found = findOpener(actual, LParen, RParen);
    const name = found?.before !== undefined && found.before.tokenType.CATEGORIES?.includes(AnyName) ? found.before.image : null;
    if (ruleName === 'nameOrCall' || ruleName === 'lossDecl') {
      return say(')', name !== null ? `the call of '${name}'` : 'the call', true);
    }
    if (ruleName === 'defDecl') {
      return say(')', name !== null ? `the parameter list of '${name}'` : 'the parameter list', true);
    }
    if (ruleName === 'parenExpr') return say(')', found ? `the '(' at ${where(found.opener)}` : "the '('", false);
    return null;
  }
  if (expected === RBracket) {
    const found = findOpener(actual, LBracket, RBracket);
    const what =
      ruleName === 'shape' ? 'shape' : ruleName === 'indexSuffix' ? 'index' : ruleName === 'arrayLit' ? 'array' : null;
    if (what === null) return null;
    return say(']', `the ${what}${found ? ` opened at ${where(found.opener)}` : ''}`, true);
  }
  if (expected === RBrace) {
    const found = findOpener(actual, LBrace, RBrace);
    const opened = found ? ` opened at ${where(found.opener)}` : '';
    // A declaration keyword or the end of the file inside a block means the `}` was forgotten;
    // anything else is a statement that does not parse. (`previous` is not reliable here: the
    // repetition's recovery reports it after skipping tokens.)
    if (isEof(actual) || (declarationKeywords.includes(actual.image) && actual.tokenType !== Ident)) {
      return `expected '}' to close the block${opened}`;
    }
    return `unexpected ${describe(actual)}: expected ${statementStart} or '}' to close the block${opened}`;
  }
  return null;
}

/**
 * Chevrotain reports which token types it expected; these messages say it the way a person
 * would ("expected an expression after '='"), and name the construct a missing closer belongs to.
 */
const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous, ruleName }) {
    const closer = closerMessage(expected, actual, previous, ruleName);
    if (closer !== null) return closer;
    if (expected === EOF) {
      // Raised by the recovery of the top-level repetition: a token that cannot start a declaration.
      return `unexpected ${describe(actual)}: expected ${declarationStart}`;
    }
    const after = !isEof(previous) && previous.image !== '' ? ` after '${previous.image}'` : '';
    if (expected === Ident || expected === AnyName) return `expected a name${after}, found ${describe(actual)}`;
    if (expected === Equals || expected === In || expected === DotDot || expected === LParen || expected === Colon) {
      return `expected ${label(expected)}${after}, found ${describe(actual)}`;
    }
    return `unexpected ${describe(actual)}: expected ${label(expected)}`;
  },

  buildNotAllInputParsedMessage({ firstRedundant, ruleName }) {
    if (ruleName === 'expression') return `unexpected ${describe(firstRedundant)} after the end of the expression`;
    return `unexpected ${describe(firstRedundant)}: expected ${declarationStart}`;
  },

  buildNoViableAltMessage({ expectedPathsPerAlt, actual, previous, customUserDescription, ruleName }) {
    const found = actual[0]!;
    const after = !isEof(previous) && previous.image !== '' ? ` after '${previous.image}'` : '';
    if (ruleName === 'primary' || ruleName === 'unary' || ruleName === 'argument' || ruleName === 'indexItem') {
      const what = ruleName === 'indexItem' ? 'an index or a slice' : 'an expression';
      return isEof(found) || after !== '' ? `expected ${what}${after}` : `unexpected ${describe(found)}: expected ${what}`;
    }
    if (ruleName === 'declaration') return `unexpected ${describe(found)}: expected ${declarationStart}`;
    if (ruleName === 'statement') return `unexpected ${describe(found)}: expected ${statementStart}`;
    if (ruleName === 'init') return `expected '=' or '~'${after} to give an initial value, found ${describe(found)}`;
    if (ruleName === 'defDecl') return `expected '=' or '{' to start the body of the function, found ${describe(found)}`;
    if (customUserDescription) return `unexpected ${describe(found)}: expected ${customUserDescription}`;
    const firsts = new Set<string>();
    for (const alt of expectedPathsPerAlt) for (const path of alt) if (path[0]) firsts.add(label(path[0]));
    return `unexpected ${describe(found)}: expected one of ${[...firsts].join(' ')}`;
  },

  buildEarlyExitMessage({ expectedIterationPaths, actual, customUserDescription, ruleName }) {
    const found = actual[0]!;
    if (customUserDescription) return `unexpected ${describe(found)}: expected ${customUserDescription}`;
    if (ruleName === 'indexSuffix') return `expected an index or a slice after '['`;
    if (ruleName === 'dimDecl' || ruleName === 'constDecl') return `expected a name after '${ruleName === 'dimDecl' ? 'dim' : 'const'}', found ${describe(found)}`;
    const firsts = new Set<string>();
    for (const path of expectedIterationPaths) if (path[0]) firsts.add(label(path[0]));
    return `unexpected ${describe(found)}: expected one of ${[...firsts].join(' ')}`;
  },
};

// ---------------------------------------------------------------- the grammar

export class NtkParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider, skipValidations: SKIP_VALIDATIONS });
    this.performSelfAnalysis();
  }

  /** Names declared with a keyword used as the name (`param data = 3`), reported after parsing. */
  keywordNames: IToken[] = [];

  /**
   * The name a declaration introduces: any identifier-shaped token, so that a keyword in this
   * place is one clear error rather than the start of a new (broken) declaration.
   */
  private declaredName(idx: number, labelName: string): IToken {
    const t = this.consume(idx, AnyName, { LABEL: labelName });
    this.ACTION(() => {
      if (t.tokenType !== Ident && t.isInsertedInRecovery !== true) this.keywordNames.push(t);
    });
    return t;
  }

  /**
   * Recovery may pretend a missing token was there, but never an opening bracket: in
   * `param w : 3 = 0` an invented `[` would turn one error into two (a missing `]` follows).
   */
  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return tokType !== LParen && tokType !== LBracket && tokType !== LBrace;
  }

  public program = this.RULE('program', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.declaration) }, { ALT: () => this.CONSUME(Semi) }]);
    });
  });

  public declaration = this.RULE('declaration', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.dimDecl) },
      { ALT: () => this.SUBRULE(this.constDecl) },
      { ALT: () => this.SUBRULE(this.tensorDecl) },
      { ALT: () => this.SUBRULE(this.defDecl) },
      { ALT: () => this.SUBRULE(this.modelDecl) },
      { ALT: () => this.SUBRULE(this.lossDecl) },
      { ALT: () => this.SUBRULE(this.testDecl) },
    ]);
  });

  /** `dim n = 16, d = 3` */
  public dimDecl = this.RULE('dimDecl', () => {
    this.CONSUME(Dim);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.binding) });
  });

  /** `const T = 100, b = 2` */
  public constDecl = this.RULE('constDecl', () => {
    this.CONSUME(Const);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.binding) });
  });

  public binding = this.RULE('binding', () => {
    this.declaredName(0, 'name');
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
  });

  /** `data NAME [: SHAPE] (= expr | ~ expr)` and the same with `param`. */
  public tensorDecl = this.RULE('tensorDecl', () => {
    this.OR([
      { ALT: () => this.CONSUME(Data, { LABEL: 'keyword' }) },
      { ALT: () => this.CONSUME(Param, { LABEL: 'keyword' }) },
    ]);
    this.declaredName(0, 'name');
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.SUBRULE(this.shape);
    });
    this.SUBRULE(this.init);
  });

  public init = this.RULE('init', () => {
    this.OR([
      { ALT: () => this.CONSUME(Equals, { LABEL: 'sign' }) },
      { ALT: () => this.CONSUME(Tilde, { LABEL: 'sign' }) },
    ]);
    this.SUBRULE(this.expression);
  });

  /** `[n, d]`; `[]` is a scalar. */
  public shape = this.RULE('shape', () => {
    this.CONSUME(LBracket);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(RBracket);
  });

  /** `def f(x : [d], y) = expr` or `def f(x) { stmts }` */
  public defDecl = this.RULE('defDecl', () => {
    this.CONSUME(Def);
    this.declaredName(0, 'name');
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.defParam) });
    this.CONSUME(RParen);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Equals);
          this.SUBRULE(this.expression);
        },
      },
      { ALT: () => this.SUBRULE(this.block) },
    ]);
  });

  public defParam = this.RULE('defParam', () => {
    this.declaredName(0, 'name');
    this.OPTION(() => {
      this.CONSUME(Colon);
      this.SUBRULE(this.shape);
    });
  });

  public block = this.RULE('block', () => {
    this.CONSUME(LBrace);
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.statement) }, { ALT: () => this.CONSUME(Semi) }]);
    });
    this.CONSUME(RBrace);
  });

  public statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.assignStmt) },
      { ALT: () => this.SUBRULE(this.forStmt) },
      { ALT: () => this.SUBRULE(this.returnStmt) },
    ]);
  });

  public letStmt = this.RULE('letStmt', () => {
    this.CONSUME(Let);
    this.declaredName(0, 'name');
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
  });

  public assignStmt = this.RULE('assignStmt', () => {
    this.CONSUME(Ident);
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
  });

  /** `for l in lo .. hi { stmts }` */
  public forStmt = this.RULE('forStmt', () => {
    this.CONSUME(For);
    this.CONSUME(Ident);
    this.CONSUME(In);
    this.SUBRULE(this.expression, { LABEL: 'lo' });
    this.CONSUME(DotDot);
    this.SUBRULE2(this.expression, { LABEL: 'hi' });
    this.SUBRULE(this.block);
  });

  public returnStmt = this.RULE('returnStmt', () => {
    this.CONSUME(Return);
    this.SUBRULE(this.expression);
  });

  public modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(Model);
    this.declaredName(0, 'name');
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
  });

  /** `loss R(v) = expr` (custom) or `loss square(target = expr)`. */
  public lossDecl = this.RULE('lossDecl', () => {
    this.CONSUME(Loss);
    const name = this.declaredName(0, 'name');
    this.CONSUME(LParen);
    this.OR({
      // Two tokens (`NAME )`) so that the gate, not a third token, decides the custom form.
      MAX_LOOKAHEAD: 2,
      IGNORE_AMBIGUITIES: true,
      DEF: [
        {
          // `( NAME ) =` is the custom form. `( NAME )` without `=` is taken as a custom form with
          // a missing `=`, except after `square`, where it is a square loss given a positional
          // argument (and the tree builder says to name it).
          GATE: () =>
            this.LA(1).tokenType === Ident &&
            this.LA(2).tokenType === RParen &&
            (this.LA(3).tokenType === Equals || name.image !== 'square'),
          ALT: () => {
            this.CONSUME2(Ident, { LABEL: 'variable' });
            this.CONSUME(RParen);
            this.CONSUME(Equals);
            this.SUBRULE(this.expression);
          },
        },
        {
          ALT: () => {
            this.SUBRULE(this.argList);
            this.CONSUME2(RParen);
          },
        },
      ],
    });
  });

  /**
   * `test NAME = expr` or `test NAME = expr, target = expr`: the model's outputs on held-out
   * inputs. The options are named arguments after a comma (an expression never contains a
   * top-level comma), checked by the tree builder.
   */
  public testDecl = this.RULE('testDecl', () => {
    this.CONSUME(Test);
    this.declaredName(0, 'name');
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
    this.MANY(() => {
      this.CONSUME(Comma);
      this.SUBRULE(this.namedArg);
    });
  });

  // ------------------------------------------------------------ expressions

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.additive);
  });

  public additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Plus, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(Minus, { LABEL: 'ops' }) },
      ]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  public multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Star, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(Slash, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(At, { LABEL: 'ops' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  public unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(Minus, { LABEL: 'op' }) },
            { ALT: () => this.CONSUME(Plus, { LABEL: 'op' }) },
          ]);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.power) },
    ]);
  });

  public power = this.RULE('power', () => {
    this.SUBRULE(this.postfix);
    this.OPTION(() => {
      this.CONSUME(Caret);
      this.SUBRULE(this.unary, { LABEL: 'exponent' });
    });
  });

  public postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => this.SUBRULE(this.indexSuffix));
  });

  public indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.indexItem) });
    this.CONSUME(RBracket);
  });

  /** `e`, `lo:hi`, `lo:`, `:hi` or `:`. */
  public indexItem = this.RULE('indexItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Colon);
          this.OPTION(() => this.SUBRULE(this.expression, { LABEL: 'hi' }));
        },
      },
      {
        ALT: () => {
          this.SUBRULE2(this.expression, { LABEL: 'lo' });
          this.OPTION2(() => {
            this.CONSUME2(Colon);
            this.OPTION3(() => this.SUBRULE3(this.expression, { LABEL: 'hi' }));
          });
        },
      },
    ]);
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLit) },
      { ALT: () => this.CONSUME(StringLit) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
      { ALT: () => this.SUBRULE(this.parenExpr) },
      { ALT: () => this.SUBRULE(this.arrayLit) },
    ]);
  });

  public nameOrCall = this.RULE('nameOrCall', () => {
    this.CONSUME(Ident);
    this.OPTION(() => {
      this.CONSUME(LParen);
      this.SUBRULE(this.argList);
      this.CONSUME(RParen);
    });
  });

  public argList = this.RULE('argList', () => {
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.argument) });
  });

  /** `NAME = expr` (named; two tokens of lookahead) or an expression (positional). */
  public argument = this.RULE('argument', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.namedArg) }, { ALT: () => this.SUBRULE(this.expression) }]);
  });

  public namedArg = this.RULE('namedArg', () => {
    this.CONSUME(Ident);
    this.CONSUME(Equals);
    this.SUBRULE(this.expression);
  });

  public parenExpr = this.RULE('parenExpr', () => {
    this.CONSUME(LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(RParen);
  });

  public arrayLit = this.RULE('arrayLit', () => {
    this.CONSUME(LBracket);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(RBracket);
  });
}

/**
 * The one parser instance, built on first use: building it and the lexer costs ~25 ms, which
 * a process that never parses (the flow's accuracy-check worker, handed the AST) does not pay.
 * The start-up snapshot holds it built (cli/snapshot.ts parses a warm-up program).
 */
let instance: NtkParser | null = null;
export const theParser = (): NtkParser => (instance ??= new NtkParser());

/**
 * Runs start rule `rule` over `tokens`. Returns the CST (partial if there were errors) and
 * chevrotain's recognition errors, whose messages are already the human ones above.
 *
 * @example
 * const { cst, errors } = parseTokens(tokenize('model h = w', 'm.ntk').tokens, 'program');
 */
export function parseTokens(tokens: IToken[], rule: 'program' | 'expression') {
  activeTokens = tokens;
  const parser = theParser();
  try {
    parser.input = tokens;
    parser.keywordNames = [];
    const cst = rule === 'program' ? parser.program() : parser.expression();
    return { cst, errors: [...parser.errors], keywordNames: [...parser.keywordNames] };
  } finally {
    activeTokens = [];
  }
}
