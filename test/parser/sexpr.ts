/**
 * A compact printer for parser tests: expressions as s-expressions, so that a precedence tree
 * reads like `(+ a (* b c))`. Slices print as `(: lo hi)` with `_` for a missing side.
 */
import type { Decl, Expr, IndexItem, NamedArg, ShapeAnn, Stmt } from '../../src/parser/ast.ts';

export function sx(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return String(e.value);
    case 'string':
      return JSON.stringify(e.value);
    case 'name':
      return e.name;
    case 'array':
      return `[${e.elements.map(sx).join(' ')}]`;
    case 'unary':
      return `(${e.op} ${sx(e.operand)})`;
    case 'binary':
      return `(${e.op} ${sx(e.left)} ${sx(e.right)})`;
    case 'call':
      return `(${[e.callee, ...e.args.map(sx), ...e.named.map(named)].join(' ')})`;
    case 'index':
      return `(index ${[sx(e.target), ...e.items.map(item)].join(' ')})`;
  }
}

function named(a: NamedArg): string {
  return `${a.name}=${sx(a.value)}`;
}

function item(i: IndexItem): string {
  return i.kind === 'at' ? sx(i.index) : `(: ${i.lo ? sx(i.lo) : '_'} ${i.hi ? sx(i.hi) : '_'})`;
}

function shape(s: ShapeAnn | null): string {
  return s === null ? '' : ` : [${s.dims.map(sx).join(', ')}]`;
}

export function stmt(s: Stmt): string {
  switch (s.kind) {
    case 'let':
      return `let ${s.name} = ${sx(s.value)}`;
    case 'assign':
      return `${s.name} = ${sx(s.value)}`;
    case 'return':
      return `return ${sx(s.value)}`;
    case 'for':
      return `for ${s.variable} in ${sx(s.lo)} .. ${sx(s.hi)} { ${s.body.map(stmt).join('; ')} }`;
  }
}

/** One line per declaration, in a normalized surface syntax. */
export function decl(d: Decl): string {
  switch (d.kind) {
    case 'dim':
    case 'const':
      return `${d.kind} ${d.bindings.map((b) => `${b.name} = ${sx(b.value)}`).join(', ')}`;
    case 'data':
    case 'param':
      return `${d.kind} ${d.name}${shape(d.shape)} ${d.init.kind === 'draw' ? '~' : '='} ${sx(d.init.expr)}`;
    case 'def': {
      const params = d.params.map((p) => `${p.name}${shape(p.shape)}`).join(', ');
      const body =
        d.body.kind === 'expr' ? `= ${sx(d.body.value)}` : `{ ${d.body.stmts.map(stmt).join('; ')} }`;
      return `def ${d.name}(${params}) ${body}`;
    }
    case 'model':
      return `model ${d.name} = ${sx(d.value)}`;
    case 'loss':
      return d.form === 'square'
        ? `loss square(${d.named.map(named).join(', ')})`
        : `loss ${d.name}(${d.variable}) = ${sx(d.value)}`;
    case 'test':
      return `test ${d.name} = ${sx(d.value)}${d.target ? `, ${named(d.target)}` : ''}`;
  }
}
