/**
 * The abstract syntax tree of a `.ntk` program: the contract between the parser (which builds
 * it from text) and the elaborator in `src/ir/elaborate.ts` (which turns it into a tensor graph).
 *
 * Every node carries a source range so that any later error (an unknown name, a shape
 * mismatch) can point at the exact place in the file.
 */

/** A source range: 1-based line and column of the first character, and of the last one. */
export interface Span {
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** 0-based character offsets [start, end) into the source text. */
  start: number;
  end: number;
}

// ---------------------------------------------------------------- expressions

export type Expr =
  | NumberLit
  | StringLit
  | NameRef
  | ArrayLit
  | Unary
  | Binary
  | Call
  | Index;

export interface NumberLit {
  kind: 'number';
  value: number;
  span: Span;
}

/** Only meaningful as the argument of `load("file")`. */
export interface StringLit {
  kind: 'string';
  value: string;
  span: Span;
}

export interface NameRef {
  kind: 'name';
  name: string;
  span: Span;
}

/** `[0.5, -1]` or nested `[[1, 2], [3, 4]]`; elements are expressions. */
export interface ArrayLit {
  kind: 'array';
  elements: Expr[];
  span: Span;
}

export interface Unary {
  kind: 'unary';
  op: '-' | '+';
  operand: Expr;
  span: Span;
}

/** `^` is right associative and binds tighter than unary minus: `-x^2 = -(x^2)`. */
export interface Binary {
  kind: 'binary';
  op: '+' | '-' | '*' | '/' | '@' | '^';
  left: Expr;
  right: Expr;
  span: Span;
}

/** A named argument `name = value`, e.g. `seed = 1`, `axis = 0`, `target = y`. */
export interface NamedArg {
  name: string;
  value: Expr;
  span: Span;
}

/** `f(a, b, axis = 0)`: positional arguments first, then named ones. */
export interface Call {
  kind: 'call';
  callee: string;
  calleeSpan: Span;
  args: Expr[];
  named: NamedArg[];
  span: Span;
}

/** One entry of an index list: an integer expression or a slice `lo:hi` (either side optional). */
export type IndexItem =
  | { kind: 'at'; index: Expr; span: Span }
  | { kind: 'slice'; lo: Expr | null; hi: Expr | null; span: Span };

/** `W[l]`, `x[0, :]`, `x[1:3]`. */
export interface Index {
  kind: 'index';
  target: Expr;
  items: IndexItem[];
  span: Span;
}

// ---------------------------------------------------------------- declarations

/** `[n, d]` in `data X : [n, d]`; each dimension an integer-valued expression of dims/consts. */
export interface ShapeAnn {
  dims: Expr[];
  span: Span;
}

/** One `name = expr` in a `dim` or `const` list. */
export interface Binding {
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

/**
 * How a `data` or `param` gets its value:
 *  - `= expr` (`kind: 'value'`): a number, array literal, constant expression, or a call such as
 *    `load("X.npy")`, `normal(0, 1, seed = 1)`, `uniform(lo, hi)`;
 *  - `~ normal(mean, std)` / `~ uniform(lo, hi)` (`kind: 'draw'`): a seeded random draw.
 * The elaborator decides what a call means; the parser only records which sign was used.
 */
export interface Init {
  kind: 'value' | 'draw';
  expr: Expr;
  span: Span;
}

export interface DimDecl {
  kind: 'dim';
  bindings: Binding[];
  span: Span;
}

export interface ConstDecl {
  kind: 'const';
  bindings: Binding[];
  span: Span;
}

export interface DataDecl {
  kind: 'data';
  name: string;
  nameSpan: Span;
  shape: ShapeAnn | null;
  init: Init;
  span: Span;
}

export interface ParamDecl {
  kind: 'param';
  name: string;
  nameSpan: Span;
  shape: ShapeAnn | null;
  init: Init;
  span: Span;
}

export interface DefParam {
  name: string;
  shape: ShapeAnn | null; // null: a scalar
  span: Span;
}

/** Statements of a block-bodied `def`. */
export type Stmt = LetStmt | AssignStmt | ForStmt | ReturnStmt;

export interface LetStmt {
  kind: 'let';
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

export interface AssignStmt {
  kind: 'assign';
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

/** `for l in lo .. hi { … }`: l runs over lo, lo+1, …, hi−1 (the upper bound is exclusive). */
export interface ForStmt {
  kind: 'for';
  variable: string;
  variableSpan: Span;
  lo: Expr;
  hi: Expr;
  body: Stmt[];
  span: Span;
}

export interface ReturnStmt {
  kind: 'return';
  value: Expr;
  span: Span;
}

/** `def f(x : [d]) = expr` (body is an expression) or `def f(x : [d]) { … return e }`. */
export interface DefDecl {
  kind: 'def';
  name: string;
  nameSpan: Span;
  params: DefParam[];
  body: { kind: 'expr'; value: Expr } | { kind: 'block'; stmts: Stmt[] };
  span: Span;
}

export interface ModelDecl {
  kind: 'model';
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

/**
 * `loss square(target = expr)`: R(v) = ½‖v − target‖²;
 * `loss R(v) = expr`: any scalar expression of the model output `v`.
 */
export type LossDecl =
  | { kind: 'loss'; form: 'square'; named: NamedArg[]; span: Span; nameSpan: Span }
  | {
      kind: 'loss';
      form: 'custom';
      name: string;
      nameSpan: Span;
      variable: string;
      variableSpan: Span;
      value: Expr;
      span: Span;
    };

/**
 * `test ht = f(Xt) / sqrt(n)` or `test ht = f(Xt) / sqrt(n), target = yt / sqrt(n)`: the model's
 * outputs g(w) on held-out inputs, with the same parameters (docs/math.md §2, eq. 19), and an
 * optional target of the same shape. `target` is the only option (checked by the tree builder).
 */
export interface TestDecl {
  kind: 'test';
  name: string;
  nameSpan: Span;
  value: Expr;
  target: NamedArg | null;
  span: Span;
}

export type Decl = DimDecl | ConstDecl | DataDecl | ParamDecl | DefDecl | ModelDecl | LossDecl | TestDecl;

/**
 * A parsed `.ntk` file (`parse`): its declarations in order, each with its source span.
 */
export interface Program {
  file: string;
  source: string;
  decls: Decl[];
}
