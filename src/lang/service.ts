/**
 * The language service of `.ntk` files: diagnostics, hover, go-to-definition and completion,
 * computed by the real parser and elaborator (the same messages as `ntk check`). It serves both
 * `ntk lsp` (src/cli/lsp.ts, over stdio) and the browser playground's editor (playground/),
 * so that an editor never shows a verdict the command line would not give.
 *
 * Positions are 0-based character offsets into the source; spans are the AST's (`Span`: 1-based
 * line/col plus offsets [start, end)).
 *
 * @example
 *   const a = analyze('param w = 0\nmodel h = w + x', 'toy.ntk');
 *   a.diagnostics[0].message          // "unknown name 'x'"
 *   hover(a, a.source.indexOf('w +')) // { text: 'param w : []  (1 parameter)', … }
 */
import type { Decl, Expr, Program, Span, Stmt } from '../parser/ast.ts';
import { NtkError, type Diagnostic } from '../parser/diagnostics.ts';
import { parseProgram } from '../parser/index.ts';
import { keywords } from '../parser/lexer.ts';
import { BUILTIN_NAMES, elaborate, type ElaborateOptions } from '../ir/elaborate.ts';
import type { Model } from '../ir/model.ts';

/** What a declared name is: a declaration's keyword, or a name local to a def or a loss. */
export type SymbolKind = 'dim' | 'const' | 'data' | 'param' | 'def' | 'model' | 'test' | 'argument' | 'local' | 'loop' | 'loss variable';

/** A declared name: where it is declared and what it is (with its shape once elaborated). */
export interface SymbolInfo {
  name: string;
  kind: SymbolKind;
  /** The name where it is declared. */
  span: Span;
  /** One line for a hover: `param U : [64, 3]  (192 parameters)`, `dim m = 64`. */
  detail: string;
  /** For names local to a `def` (arguments, lets, loop variables) or a loss: where they are visible. */
  scope: Span | null;
}

/** A use of a name in an expression, resolved to its declaration when there is one. */
export interface Reference {
  name: string;
  span: Span;
  symbol: SymbolInfo | null;
}

/** `analyze`'s result: the source, its AST and model (null when they failed), the diagnostics and the names. */
export interface Analysis {
  source: string;
  file: string;
  program: Program | null;
  /** The elaborated model, or null when parsing or elaboration failed. */
  model: Model | null;
  /** Errors, warnings and notes, as `ntk check` reports them. */
  diagnostics: Diagnostic[];
  symbols: SymbolInfo[];
  references: Reference[];
}

/** The builtin functions with a one-line description each (completion and hover). */
export const FUNCTION_DOCS: Record<string, string> = {
  sum: 'sum(x, axis = i): the sum of the entries (along an axis)',
  mean: 'mean(x, axis = i): the mean of the entries (along an axis)',
  dot: 'dot(x, y): the inner product of two vectors',
  norm: 'norm(x): the Euclidean norm',
  transpose: 'transpose(A): the transposed matrix',
  outer: 'outer(x, y): the outer product x yᵀ',
  concat: 'concat(x, y, …, axis = i): the arrays joined along an axis (axis 0 by default)',
  load: 'load("file.npy"): an array from a .npy, .csv or .json file next to the model',
  normal: 'normal(mean, std): a seeded Gaussian draw (param w ~ normal(0, 1))',
  uniform: 'uniform(lo, hi): a seeded uniform draw',
};
for (const name of BUILTIN_NAMES) FUNCTION_DOCS[name] ??= `${name}(x): elementwise`;

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function nameSpanAt(span: Span, name: string): Span {
  return { line: span.line, col: span.col, endLine: span.line, endCol: span.col + name.length - 1, start: span.start, end: span.start + name.length };
}

/**
 * Parse and elaborate `source` (data files are read relative to `file`, or `opts.baseDir`), and
 * index its names. Never throws for a bad program: everything the CLI would reject comes back as
 * a diagnostic (an unexpected internal failure too, as an error without a span).
 * @example analyze('param w = 0\nmodel h = w + x', 'toy.ntk').diagnostics[0].message // "unknown name 'x'"
 */
export function analyze(source: string, file: string, opts: ElaborateOptions = {}): Analysis {
  const { program, diagnostics } = parseProgram(source, file);
  const out: Analysis = { source, file, program: program ?? null, model: null, diagnostics: [...diagnostics], symbols: [], references: [] };
  if (program && !diagnostics.some((d) => d.severity === 'error')) {
    try {
      out.model = elaborate(program, opts);
      out.diagnostics.push(...out.model.diagnostics);
      if (out.model.nonSmooth)
        out.diagnostics.push({ severity: 'warning', file, span: null, message: 'the model uses a non-smooth function (relu, abs or sign): second derivatives are zero almost everywhere and Lip(Dh) has no finite bound' });
    } catch (e) {
      if (e instanceof NtkError) out.diagnostics.push(...e.diagnostics);
      else out.diagnostics.push({ severity: 'error', file, span: null, message: `internal error: ${(e as Error).message}` });
    }
  }
  if (program) index(out, program);
  return out;
}

/** Declarations and references of a program, with shapes and values from the model if any. */
function index(a: Analysis, program: Program): void {
  const m = a.model;
  const top = new Map<string, SymbolInfo>();
  const declare = (s: SymbolInfo) => {
    a.symbols.push(s);
    if (s.scope === null && !top.has(s.name)) top.set(s.name, s);
  };
  for (const d of program.decls) declareTop(d, m, declare);
  // References: walk every expression with the names visible there.
  const walkExpr = (e: Expr, local: Map<string, SymbolInfo>): void => {
    switch (e.kind) {
      case 'name':
        a.references.push({ name: e.name, span: e.span, symbol: local.get(e.name) ?? top.get(e.name) ?? null });
        return;
      case 'array':
        e.elements.forEach((x) => walkExpr(x, local));
        return;
      case 'unary':
        walkExpr(e.operand, local);
        return;
      case 'binary':
        walkExpr(e.left, local);
        walkExpr(e.right, local);
        return;
      case 'call':
        if (top.get(e.callee)?.kind === 'def') a.references.push({ name: e.callee, span: e.calleeSpan, symbol: top.get(e.callee)! });
        e.args.forEach((x) => walkExpr(x, local));
        e.named.forEach((x) => walkExpr(x.value, local));
        return;
      case 'index':
        walkExpr(e.target, local);
        for (const it of e.items) {
          if (it.kind === 'at') walkExpr(it.index, local);
          else {
            if (it.lo) walkExpr(it.lo, local);
            if (it.hi) walkExpr(it.hi, local);
          }
        }
        return;
      default:
        return;
    }
  };
  const walkStmts = (stmts: Stmt[], local: Map<string, SymbolInfo>, scope: Span): void => {
    for (const s of stmts) {
      if (s.kind === 'let' || s.kind === 'assign') {
        walkExpr(s.value, local);
        if (s.kind === 'let') {
          const sym: SymbolInfo = { name: s.name, kind: 'local', span: s.nameSpan, detail: `let ${s.name} (local to the def)`, scope };
          a.symbols.push(sym);
          local.set(s.name, sym);
        } else a.references.push({ name: s.name, span: s.nameSpan, symbol: local.get(s.name) ?? null });
      } else if (s.kind === 'for') {
        walkExpr(s.lo, local);
        walkExpr(s.hi, local);
        const inner = new Map(local);
        const sym: SymbolInfo = { name: s.variable, kind: 'loop', span: s.variableSpan, detail: `for ${s.variable} (loop index)`, scope: s.span };
        a.symbols.push(sym);
        inner.set(s.variable, sym);
        walkStmts(s.body, inner, scope);
      } else walkExpr(s.value, local);
    }
  };
  for (const d of program.decls) {
    switch (d.kind) {
      case 'dim':
      case 'const':
        d.bindings.forEach((b) => walkExpr(b.value, new Map()));
        break;
      case 'data':
      case 'param':
        d.shape?.dims.forEach((x) => walkExpr(x, new Map()));
        walkExpr(d.init.expr, new Map());
        break;
      case 'def': {
        const local = new Map<string, SymbolInfo>();
        for (const p of d.params) {
          p.shape?.dims.forEach((x) => walkExpr(x, new Map()));
          const ann = p.shape ? a.source.slice(p.shape.span.start, p.shape.span.end) : 'a scalar';
          const sym: SymbolInfo = { name: p.name, kind: 'argument', span: nameSpanAt(p.span, p.name), detail: `argument ${p.name} : ${ann} of ${d.name}`, scope: d.span };
          a.symbols.push(sym);
          local.set(p.name, sym);
        }
        if (d.body.kind === 'expr') walkExpr(d.body.value, local);
        else walkStmts(d.body.stmts, local, d.span);
        break;
      }
      case 'model':
      case 'test':
        walkExpr(d.value, new Map());
        if (d.kind === 'test' && d.target) walkExpr(d.target.value, new Map());
        break;
      case 'loss':
        if (d.form === 'square') d.named.forEach((x) => walkExpr(x.value, new Map()));
        else {
          const sym: SymbolInfo = { name: d.variable, kind: 'loss variable', span: d.variableSpan, detail: `${d.variable}: the loss's argument v = α·h(w)${m ? ` : ${shapeText(m.outputShape)}` : ''}`, scope: d.span };
          a.symbols.push(sym);
          walkExpr(d.value, new Map([[d.variable, sym]]));
        }
        break;
    }
  }
}

function declareTop(d: Decl, m: Model | null, declare: (s: SymbolInfo) => void): void {
  switch (d.kind) {
    case 'dim':
    case 'const':
      for (const b of d.bindings) {
        const v = m?.constants.get(b.name);
        declare({ name: b.name, kind: d.kind, span: b.nameSpan, detail: `${d.kind} ${b.name}${v === undefined ? '' : ` = ${v}`}`, scope: null });
      }
      return;
    case 'param': {
      const q = m?.params.find((x) => x.name === d.name);
      declare({ name: d.name, kind: 'param', span: d.nameSpan, detail: q ? `param ${d.name} : ${shapeText(q.shape)}  (${plural(q.size, 'parameter')})` : `param ${d.name}`, scope: null });
      return;
    }
    case 'data': {
      const x = m?.data.find((y) => y.name === d.name);
      declare({ name: d.name, kind: 'data', span: d.nameSpan, detail: x ? `data ${d.name} : ${shapeText(x.shape)}` : `data ${d.name}`, scope: null });
      return;
    }
    case 'def':
      declare({ name: d.name, kind: 'def', span: d.nameSpan, detail: `def ${d.name}(${d.params.map((p) => p.name).join(', ')})`, scope: null });
      return;
    case 'model':
      declare({
        name: d.name, kind: 'model', span: d.nameSpan, scope: null,
        detail: m && m.outputName === d.name ? `model ${d.name} : ${shapeText(m.outputShape)}  (${plural(size(m.outputShape), 'output')}, ${plural(m.paramCount, 'parameter')})` : `model ${d.name}`,
      });
      return;
    case 'test':
      declare({ name: d.name, kind: 'test', span: d.nameSpan, scope: null, detail: m?.test ? `test ${d.name} : ${shapeText(m.test.shape)}  (${plural(size(m.test.shape), 'test output')})` : `test ${d.name}` });
      return;
    case 'loss':
      return;
  }
}

const inside = (s: Span, offset: number) => offset >= s.start && offset <= s.end;

/**
 * The declared name or reference under `offset`, with the symbol it names (null: unresolved).
 * @example const src = 'param w = 0.5\nmodel h = w^2'; symbolAt(analyze(src, 'm.ntk'), src.lastIndexOf('w'))?.symbol?.kind // 'param'
 */
export function symbolAt(a: Analysis, offset: number): { span: Span; name: string; symbol: SymbolInfo | null } | null {
  const decl = a.symbols.find((s) => inside(s.span, offset));
  if (decl) return { span: decl.span, name: decl.name, symbol: decl };
  const ref = a.references.find((r) => inside(r.span, offset));
  return ref ? { span: ref.span, name: ref.name, symbol: ref.symbol } : null;
}

/** The word (identifier) around `offset`, with its span of offsets. */
function wordAt(source: string, offset: number): { word: string; start: number; end: number } | null {
  let s = offset, e = offset;
  while (s > 0 && /[A-Za-z0-9_]/.test(source[s - 1]!)) s--;
  while (e < source.length && /[A-Za-z0-9_]/.test(source[e]!)) e++;
  return e > s && /^[A-Za-z_]/.test(source.slice(s, e)) ? { word: source.slice(s, e), start: s, end: e } : null;
}

/**
 * What to show when hovering at `offset`: the symbol's kind and shape, or a builtin's description.
 * `start`/`end` are the offsets of the hovered word.
 * @example const src = 'param w = 0.5\nmodel h = w^2'; hover(analyze(src, 'm.ntk'), src.indexOf('w^2')) // { text: 'param w : []  (1 parameter)', start: 24, end: 25 }
 */
export function hover(a: Analysis, offset: number): { text: string; start: number; end: number } | null {
  const hit = symbolAt(a, offset);
  if (hit?.symbol) return { text: hit.symbol.detail, start: hit.span.start, end: hit.span.end };
  const w = wordAt(a.source, offset);
  if (!w) return null;
  if (FUNCTION_DOCS[w.word] && a.source[w.end] === '(') return { text: FUNCTION_DOCS[w.word]!, start: w.start, end: w.end };
  if (keywords.includes(w.word)) return { text: `keyword '${w.word}'`, start: w.start, end: w.end };
  return null;
}

/**
 * Where the name at `offset` is declared (null: not a declared name).
 * @example const src = 'param w = 0.5\nmodel h = w^2'; definition(analyze(src, 'm.ntk'), src.indexOf('w^2')) // { line: 1, col: 7, … }
 */
export function definition(a: Analysis, offset: number): Span | null {
  return symbolAt(a, offset)?.symbol?.span ?? null;
}

/** One completion: the text to insert, what it is, and a one-line description. */
export interface Completion {
  label: string;
  kind: 'keyword' | 'function' | SymbolKind;
  detail: string;
}

/**
 * Completions at `offset`: the keywords, the builtin functions and the program's names visible
 * there (its declarations, and a def's arguments and lets inside that def), filtered by the
 * word typed so far; names first (in declaration order), then builtins and keywords (sorted).
 * @example const src = 'param width = 0.5\nmodel h = wi'; completions(analyze(src, 'm.ntk'), src.length).items[0].label // 'width'
 */
export function completions(a: Analysis, offset: number): { from: number; items: Completion[] } {
  let from = offset;
  while (from > 0 && /[A-Za-z0-9_]/.test(a.source[from - 1]!)) from--;
  const prefix = a.source.slice(from, offset);
  const items: Completion[] = [];
  const seen = new Set<string>();
  const add = (c: Completion) => {
    if (seen.has(c.label) || !c.label.startsWith(prefix)) return;
    seen.add(c.label);
    items.push(c);
  };
  for (const s of a.symbols) if (s.scope === null || (offset >= s.scope.start && offset <= s.scope.end && offset >= s.span.end)) add({ label: s.name, kind: s.kind, detail: s.detail });
  for (const [name, doc] of Object.entries(FUNCTION_DOCS).sort(([a], [b]) => (a < b ? -1 : 1))) add({ label: name, kind: 'function', detail: doc });
  for (const k of keywords) add({ label: k, kind: 'keyword', detail: `keyword` });
  return { from, items };
}
