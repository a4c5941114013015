/**
 * CST → AST. Walks chevrotain's concrete syntax tree by hand (each rule of `parser.ts` has one
 * function here) and builds the types of `ast.ts` with their spans.
 *
 * It runs only on a CST without syntax errors, so every mandatory child is present. The few
 * checks the grammar leaves open (a positional argument after a named one, a repeated named
 * argument, a call-form loss other than `square`) are reported as diagnostics here.
 */
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type {
  Binding,
  Decl,
  DefParam,
  Expr,
  IndexItem,
  Init,
  LossDecl,
  NamedArg,
  Program,
  ShapeAnn,
  Span,
  Stmt,
} from './ast.ts';
import { error, joinSpans, type Diagnostic } from './diagnostics.ts';
import { tokenSpan, unquote } from './lexer.ts';

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

function nodes(n: CstNode, key: string): CstNode[] {
  return (n.children[key] ?? []).filter((e): e is CstNode => !isToken(e));
}

function node(n: CstNode, key: string): CstNode {
  const found = nodes(n, key)[0];
  if (found === undefined) throw new Error(`internal: '${n.name}' has no child '${key}'`);
  return found;
}

function maybeNode(n: CstNode, key: string): CstNode | null {
  return nodes(n, key)[0] ?? null;
}

function tokens(n: CstNode, key: string): IToken[] {
  return (n.children[key] ?? []).filter(isToken);
}

function token(n: CstNode, key: string): IToken {
  const found = tokens(n, key)[0];
  if (found === undefined) throw new Error(`internal: '${n.name}' has no token '${key}'`);
  return found;
}

function maybeToken(n: CstNode, key: string): IToken | null {
  return tokens(n, key)[0] ?? null;
}

/** All children of `n` (tokens and nodes) in source order. */
function ordered(n: CstNode): CstElement[] {
  const all: CstElement[] = [];
  for (const list of Object.values(n.children)) all.push(...list);
  return all.sort((a, b) => startOf(a) - startOf(b));
}

function startOf(e: CstElement): number {
  if (isToken(e)) return e.startOffset;
  const first = ordered(e)[0];
  return first === undefined ? Number.POSITIVE_INFINITY : startOf(first);
}

class Builder {
  readonly diagnostics: Diagnostic[] = [];
  constructor(private readonly file: string) {}

  private report(span: Span, message: string): void {
    this.diagnostics.push(error(this.file, span, message));
  }

  // -------------------------------------------------------------- declarations

  program(n: CstNode, source: string): Program {
    return { file: this.file, source, decls: nodes(n, 'declaration').map((d) => this.declaration(d)) };
  }

  declaration(n: CstNode): Decl {
    const [child] = ordered(n);
    if (child === undefined || isToken(child)) throw new Error('internal: empty declaration');
    switch (child.name) {
      case 'dimDecl':
      case 'constDecl': {
        const kw = token(child, child.name === 'dimDecl' ? 'Dim' : 'Const');
        const bindings = nodes(child, 'binding').map((b) => this.binding(b));
        return {
          kind: child.name === 'dimDecl' ? 'dim' : 'const',
          bindings,
          span: joinSpans(tokenSpan(kw), bindings[bindings.length - 1]!.span),
        };
      }
      case 'tensorDecl':
        return this.tensorDecl(child);
      case 'defDecl':
        return this.defDecl(child);
      case 'modelDecl': {
        const name = token(child, 'name');
        const value = this.expression(node(child, 'expression'));
        return {
          kind: 'model',
          name: name.image,
          nameSpan: tokenSpan(name),
          value,
          span: joinSpans(tokenSpan(token(child, 'Model')), value.span),
        };
      }
      case 'lossDecl':
        return this.lossDecl(child);
      case 'testDecl':
        return this.testDecl(child);
      default:
        throw new Error(`internal: unknown declaration '${child.name}'`);
    }
  }

  binding(n: CstNode): Binding {
    const name = token(n, 'name');
    const value = this.expression(node(n, 'expression'));
    return { name: name.image, nameSpan: tokenSpan(name), value, span: joinSpans(tokenSpan(name), value.span) };
  }

  tensorDecl(n: CstNode): Decl {
    const kw = token(n, 'keyword');
    const name = token(n, 'name');
    const shapeNode = maybeNode(n, 'shape');
    const init = this.init(node(n, 'init'));
    return {
      kind: kw.image === 'data' ? 'data' : 'param',
      name: name.image,
      nameSpan: tokenSpan(name),
      shape: shapeNode ? this.shape(shapeNode) : null,
      init,
      span: joinSpans(tokenSpan(kw), init.span),
    };
  }

  init(n: CstNode): Init {
    const sign = token(n, 'sign');
    const expr = this.expression(node(n, 'expression'));
    return { kind: sign.image === '~' ? 'draw' : 'value', expr, span: joinSpans(tokenSpan(sign), expr.span) };
  }

  shape(n: CstNode): ShapeAnn {
    return {
      dims: nodes(n, 'expression').map((e) => this.expression(e)),
      span: joinSpans(tokenSpan(token(n, 'LBracket')), tokenSpan(token(n, 'RBracket'))),
    };
  }

  defDecl(n: CstNode): Decl {
    const name = token(n, 'name');
    const params = nodes(n, 'defParam').map((p) => this.defParam(p));
    const start = tokenSpan(token(n, 'Def'));
    const blockNode = maybeNode(n, 'block');
    if (blockNode) {
      const stmts = this.block(blockNode);
      return {
        kind: 'def',
        name: name.image,
        nameSpan: tokenSpan(name),
        params,
        body: { kind: 'block', stmts },
        span: joinSpans(start, tokenSpan(token(blockNode, 'RBrace'))),
      };
    }
    const value = this.expression(node(n, 'expression'));
    return {
      kind: 'def',
      name: name.image,
      nameSpan: tokenSpan(name),
      params,
      body: { kind: 'expr', value },
      span: joinSpans(start, value.span),
    };
  }

  defParam(n: CstNode): DefParam {
    const name = token(n, 'name');
    const shapeNode = maybeNode(n, 'shape');
    const shape = shapeNode ? this.shape(shapeNode) : null;
    return { name: name.image, shape, span: shape ? joinSpans(tokenSpan(name), shape.span) : tokenSpan(name) };
  }

  block(n: CstNode): Stmt[] {
    return nodes(n, 'statement').map((s) => this.statement(s));
  }

  statement(n: CstNode): Stmt {
    const [child] = ordered(n);
    if (child === undefined || isToken(child)) throw new Error('internal: empty statement');
    switch (child.name) {
      case 'letStmt':
      case 'assignStmt': {
        const name = token(child, child.name === 'letStmt' ? 'name' : 'Ident');
        const value = this.expression(node(child, 'expression'));
        const first = child.name === 'letStmt' ? token(child, 'Let') : name;
        return {
          kind: child.name === 'letStmt' ? 'let' : 'assign',
          name: name.image,
          nameSpan: tokenSpan(name),
          value,
          span: joinSpans(tokenSpan(first), value.span),
        };
      }
      case 'forStmt': {
        const variable = token(child, 'Ident');
        const blockNode = node(child, 'block');
        return {
          kind: 'for',
          variable: variable.image,
          variableSpan: tokenSpan(variable),
          lo: this.expression(node(child, 'lo')),
          hi: this.expression(node(child, 'hi')),
          body: this.block(blockNode),
          span: joinSpans(tokenSpan(token(child, 'For')), tokenSpan(token(blockNode, 'RBrace'))),
        };
      }
      case 'returnStmt': {
        const value = this.expression(node(child, 'expression'));
        return { kind: 'return', value, span: joinSpans(tokenSpan(token(child, 'Return')), value.span) };
      }
      default:
        throw new Error(`internal: unknown statement '${child.name}'`);
    }
  }

  lossDecl(n: CstNode): LossDecl {
    const kw = tokenSpan(token(n, 'Loss'));
    const name = token(n, 'name');
    const variable = maybeToken(n, 'variable');
    if (variable) {
      const value = this.expression(node(n, 'expression'));
      return {
        kind: 'loss',
        form: 'custom',
        name: name.image,
        nameSpan: tokenSpan(name),
        variable: variable.image,
        variableSpan: tokenSpan(variable),
        value,
        span: joinSpans(kw, value.span),
      };
    }
    const close = tokens(n, 'RParen');
    const span = joinSpans(kw, tokenSpan(close[close.length - 1]!));
    const { args, named } = this.argList(node(n, 'argList'));
    if (name.image !== 'square') {
      this.report(
        tokenSpan(name),
        `unknown loss '${name.image}': write 'loss square(target = …)' or 'loss NAME(v) = expression'`,
      );
    } else if (args.length > 0) {
      this.report(args[0]!.span, "the square loss takes named arguments only, e.g. 'square(target = y)'");
    }
    return { kind: 'loss', form: 'square', named, span, nameSpan: tokenSpan(name) };
  }

  testDecl(n: CstNode): Decl {
    const name = token(n, 'name');
    const value = this.expression(node(n, 'expression'));
    let target: NamedArg | null = null;
    let last = value.span;
    for (const a of nodes(n, 'namedArg')) {
      const opt = this.namedArg(a);
      last = opt.span;
      if (opt.name !== 'target') this.report(opt.nameSpan, `unknown option '${opt.name}' of test (only 'target')`);
      else if (target !== null) this.report(opt.nameSpan, "option 'target' is given twice");
      else target = { name: opt.name, value: opt.value, span: opt.span };
    }
    return {
      kind: 'test',
      name: name.image,
      nameSpan: tokenSpan(name),
      value,
      target,
      span: joinSpans(tokenSpan(token(n, 'Test')), last),
    };
  }

  private namedArg(n: CstNode): NamedArg & { nameSpan: Span } {
    const name = token(n, 'Ident');
    const value = this.expression(node(n, 'expression'));
    return { name: name.image, nameSpan: tokenSpan(name), value, span: joinSpans(tokenSpan(name), value.span) };
  }

  // -------------------------------------------------------------- expressions

  expression(n: CstNode): Expr {
    return this.binaryChain(node(n, 'additive'), (m) => this.binaryChain(m, (u) => this.unary(u)));
  }

  /** Folds `operands[0] ops[0] operands[1] …` to the left (both levels are left associative). */
  private binaryChain(n: CstNode, operand: (m: CstNode) => Expr): Expr {
    const operands = nodes(n, 'operands').map(operand);
    const ops = tokens(n, 'ops').sort((a, b) => a.startOffset - b.startOffset);
    let acc = operands[0]!;
    for (let i = 0; i < ops.length; i++) {
      const right = operands[i + 1]!;
      acc = {
        kind: 'binary',
        op: ops[i]!.image as '+' | '-' | '*' | '/' | '@',
        left: acc,
        right,
        span: joinSpans(acc.span, right.span),
      };
    }
    return acc;
  }

  unary(n: CstNode): Expr {
    const op = maybeToken(n, 'op');
    if (op) {
      const operand = this.unary(node(n, 'unary'));
      return { kind: 'unary', op: op.image as '-' | '+', operand, span: joinSpans(tokenSpan(op), operand.span) };
    }
    return this.power(node(n, 'power'));
  }

  power(n: CstNode): Expr {
    const base = this.postfix(node(n, 'postfix'));
    const exponent = maybeNode(n, 'exponent');
    if (!exponent) return base;
    const right = this.unary(exponent);
    return { kind: 'binary', op: '^', left: base, right, span: joinSpans(base.span, right.span) };
  }

  postfix(n: CstNode): Expr {
    let target = this.primary(node(n, 'primary'));
    for (const suffix of nodes(n, 'indexSuffix')) {
      const items = nodes(suffix, 'indexItem').map((i) => this.indexItem(i));
      target = { kind: 'index', target, items, span: joinSpans(target.span, tokenSpan(token(suffix, 'RBracket'))) };
    }
    return target;
  }

  indexItem(n: CstNode): IndexItem {
    const colon = maybeToken(n, 'Colon');
    const loNode = maybeNode(n, 'lo');
    const hiNode = maybeNode(n, 'hi');
    const lo = loNode ? this.expression(loNode) : null;
    if (!colon) return { kind: 'at', index: lo!, span: lo!.span };
    const hi = hiNode ? this.expression(hiNode) : null;
    const colonSpan = tokenSpan(colon);
    return { kind: 'slice', lo, hi, span: joinSpans(lo?.span ?? colonSpan, hi?.span ?? colonSpan) };
  }

  primary(n: CstNode): Expr {
    const [child] = ordered(n);
    if (child === undefined) throw new Error('internal: empty primary');
    if (isToken(child)) {
      if (child.tokenType.name === 'NumberLit') return { kind: 'number', value: Number(child.image), span: tokenSpan(child) };
      return { kind: 'string', value: unquote(child.image), span: tokenSpan(child) };
    }
    switch (child.name) {
      case 'nameOrCall':
        return this.nameOrCall(child);
      case 'parenExpr': {
        // No node for parentheses: the inner expression's span is widened to include them, so
        // that `(a + b) * c` spans from `(` to `c`.
        const inner = this.expression(node(child, 'expression'));
        const span = joinSpans(tokenSpan(token(child, 'LParen')), tokenSpan(token(child, 'RParen')));
        return { ...inner, span };
      }
      case 'arrayLit':
        return {
          kind: 'array',
          elements: nodes(child, 'expression').map((e) => this.expression(e)),
          span: joinSpans(tokenSpan(token(child, 'LBracket')), tokenSpan(token(child, 'RBracket'))),
        };
      default:
        throw new Error(`internal: unknown primary '${child.name}'`);
    }
  }

  nameOrCall(n: CstNode): Expr {
    const name = token(n, 'Ident');
    const nameSpan = tokenSpan(name);
    const close = maybeToken(n, 'RParen');
    if (!close) return { kind: 'name', name: name.image, span: nameSpan };
    const { args, named } = this.argList(node(n, 'argList'));
    return { kind: 'call', callee: name.image, calleeSpan: nameSpan, args, named, span: joinSpans(nameSpan, tokenSpan(close)) };
  }

  argList(n: CstNode): { args: Expr[]; named: NamedArg[] } {
    const args: Expr[] = [];
    const named: NamedArg[] = [];
    for (const a of nodes(n, 'argument')) {
      const namedNode = maybeNode(a, 'namedArg');
      if (namedNode) {
        const name = token(namedNode, 'Ident');
        const value = this.expression(node(namedNode, 'expression'));
        const span = joinSpans(tokenSpan(name), value.span);
        if (named.some((x) => x.name === name.image)) this.report(tokenSpan(name), `argument '${name.image}' is given twice`);
        named.push({ name: name.image, value, span });
      } else {
        const value = this.expression(node(a, 'expression'));
        if (named.length > 0) {
          this.report(value.span, `positional argument after the named argument '${named[named.length - 1]!.name}'`);
        }
        args.push(value);
      }
    }
    return { args, named };
  }
}

/**
 * Builds the AST of a whole program from its error-free CST.
 *
 * @example
 * const { cst } = parseTokens(tokenize(src, 'm.ntk').tokens, 'program');
 * const { program, diagnostics } = buildProgram(cst, src, 'm.ntk');
 */
export function buildProgram(cst: CstNode, source: string, file: string): { program: Program; diagnostics: Diagnostic[] } {
  const b = new Builder(file);
  const program = b.program(cst, source);
  return { program, diagnostics: b.diagnostics };
}

/**
 * Builds the AST of one expression from its error-free CST (start rule `expression`).
 *
 * @example
 * const { expr } = buildExpression(parseTokens(tokenize('2^-1', 'x').tokens, 'expression').cst, 'x');
 */
export function buildExpression(cst: CstNode, file: string): { expr: Expr; diagnostics: Diagnostic[] } {
  const b = new Builder(file);
  const expr = b.expression(cst);
  return { expr, diagnostics: b.diagnostics };
}
