import { describe, expect, it } from 'vitest';
import { parseProgram } from '../../src/parser/index.ts';
import type { Program } from '../../src/parser/ast.ts';
import { decl } from './sexpr.ts';

function parseOk(source: string): Program {
  const { program, diagnostics } = parseProgram(source, 'm.ntk');
  expect(diagnostics).toEqual([]);
  expect(program).not.toBeNull();
  return program!;
}

function lines(source: string): string[] {
  return parseOk(source).decls.map(decl);
}

// The three examples of DESIGN.md, "The language, by example", verbatim.
const tightExample = `# Theorem 1.3's tight example.  Comments start with '#'.
const T = 100, b = 2, R0 = 0.5        # constants; any of them can be overridden: --set T=1000
param w = 0                           # a scalar parameter and its initial value
model h = w / sqrt(T) + b * w^2 / 2   # the model: a function of the parameters
loss square(target = sqrt(2 * R0))    # R(v) = ½‖v − target‖²
`;

const meanFieldExample = `# The 2-layer mean-field network of Boix-Adsera & Littwin, Section 2.
dim n = 16, d = 3, m = 64                         # integer sizes (overridable too)
data X : [n, d] = load("X.npy")                   # .npy, .csv or .json; path relative to this file
data y : [n] = load("y.npy")
param a : [m] = load("a.npy")                     # initial values from a file ...
param U : [m, d] ~ uniform(-1/sqrt(m), 1/sqrt(m)) # ... or drawn (seeded: --seed, default 0)
def f(x : [d]) = sum(a * sigmoid(sqrt(m) * (U @ x))) / sqrt(m)
model h = f(X) / sqrt(n)        # f is declared on one row; called on X it maps over the rows
loss square(target = y / sqrt(n))
`;

const deepExample = `# A deep MLP in the parametrization of Huang & Yau, with a general loss.
dim n = 8, d = 3, m = 128, H = 3
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = load("y.csv")
param W1 : [m, d] ~ normal(0, 1)
param W : [H - 1, m, m] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z = tanh(W1 @ x) / sqrt(m)
  for l in 0 .. H - 1 { z = tanh(W[l] @ z) / sqrt(m) }    # unrolled when the graph is built
  return dot(a, z)
}
model h = f(X)
loss R(v) = sum((v - y)^2) / (2 * n)
`;

describe('the DESIGN.md examples', () => {
  it("parses Theorem 1.3's tight example", () => {
    expect(lines(tightExample)).toEqual([
      'const T = 100, b = 2, R0 = 0.5',
      'param w = 0',
      'model h = (+ (/ w (sqrt T)) (/ (* b (^ w 2)) 2))',
      'loss square(target=(sqrt (* 2 R0)))',
    ]);
  });

  it('parses the mean-field network', () => {
    expect(lines(meanFieldExample)).toEqual([
      'dim n = 16, d = 3, m = 64',
      'data X : [n, d] = (load "X.npy")',
      'data y : [n] = (load "y.npy")',
      'param a : [m] = (load "a.npy")',
      'param U : [m, d] ~ (uniform (/ (- 1) (sqrt m)) (/ 1 (sqrt m)))',
      'def f(x : [d]) = (/ (sum (* a (sigmoid (* (sqrt m) (@ U x))))) (sqrt m))',
      'model h = (/ (f X) (sqrt n))',
      'loss square(target=(/ y (sqrt n)))',
    ]);
  });

  it('parses the deep MLP with a block-bodied def and a custom loss', () => {
    expect(lines(deepExample)).toEqual([
      'dim n = 8, d = 3, m = 128, H = 3',
      'data X : [n, d] = (normal 0 1 seed=1)',
      'data y : [n] = (load "y.csv")',
      'param W1 : [m, d] ~ (normal 0 1)',
      'param W : [(- H 1), m, m] ~ (normal 0 1)',
      'param a : [m] ~ (normal 0 1)',
      'def f(x : [d]) { let z = (/ (tanh (@ W1 x)) (sqrt m)); ' +
        'for l in 0 .. (- H 1) { z = (/ (tanh (@ (index W l) z)) (sqrt m)) }; return (dot a z) }',
      'model h = (f X)',
      'loss R(v) = (/ (sum (^ (- v y) 2)) (* 2 n))',
    ]);
  });

  it('records the file, the source and the kinds of the fields the elaborator reads', () => {
    const p = parseOk(deepExample);
    expect(p.file).toBe('m.ntk');
    expect(p.source).toBe(deepExample);
    const W = p.decls[4]!;
    expect(W).toMatchObject({ kind: 'param', name: 'W', init: { kind: 'draw' } });
    const X = p.decls[1]!;
    expect(X).toMatchObject({ kind: 'data', name: 'X', init: { kind: 'value', expr: { kind: 'call', callee: 'normal' } } });
    const loss = p.decls[8]!;
    expect(loss).toMatchObject({ kind: 'loss', form: 'custom', name: 'R', variable: 'v' });
    const f = p.decls[6]!;
    expect(f.kind === 'def' && f.body.kind === 'block' && f.body.stmts.map((s) => s.kind)).toEqual([
      'let',
      'for',
      'return',
    ]);
  });
});

describe('declarations', () => {
  it('dim and const take comma lists of expressions', () => {
    expect(lines('dim n = 16, d = 3\nconst T = 100, b = 2 * T, R0 = 0.5')).toEqual([
      'dim n = 16, d = 3',
      'const T = 100, b = (* 2 T), R0 = 0.5',
    ]);
  });

  it('data and param take an optional shape and = or ~', () => {
    expect(
      lines(`param w = 0
param s : [] = 1
param v : [2] = [0.5, -1]
param M : [2, 2] = [[1, 2], [3, 4]]
param a : [m] = load("a.npy")
param U : [m, d] ~ uniform(-1/sqrt(m), 1/sqrt(m))
data X : [n, d] = normal(0, 1, seed = 1)
param W : [H - 1, m, m] ~ normal(0, 1)
data Z ~ normal(0, 1)`),
    ).toEqual([
      'param w = 0',
      'param s : [] = 1',
      'param v : [2] = [0.5 (- 1)]',
      'param M : [2, 2] = [[1 2] [3 4]]',
      'param a : [m] = (load "a.npy")',
      'param U : [m, d] ~ (uniform (/ (- 1) (sqrt m)) (/ 1 (sqrt m)))',
      'data X : [n, d] = (normal 0 1 seed=1)',
      'param W : [(- H 1), m, m] ~ (normal 0 1)',
      'data Z ~ (normal 0 1)',
    ]);
  });

  it('an empty shape is a scalar shape, not a missing one', () => {
    const p = parseOk('param s : [] = 1\nparam t = 1');
    expect(p.decls[0]).toMatchObject({ shape: { dims: [] } });
    expect(p.decls[1]).toMatchObject({ shape: null });
  });

  it('def with an expression body, several parameters, and no parameters', () => {
    expect(lines('def g(x : [d], y, z : [n, d]) = x + y\ndef c() = 1')).toEqual([
      'def g(x : [d], y, z : [n, d]) = (+ x y)',
      'def c() = 1',
    ]);
  });

  it('def with a block: let, assignment, nested for, return, optional semicolons', () => {
    expect(
      lines(`def f(x) {
  let z = x; z = z * 2;
  for i in 0..3 { for j in 1 .. n { z = z + i * j } }
  return z;
}`),
    ).toEqual(['def f(x) { let z = x; z = (* z 2); for i in 0 .. 3 { for j in 1 .. n { z = (+ z (* i j)) } }; return z }']);
  });

  it('a block without return still parses (the elaborator checks that)', () => {
    expect(lines('def f(x) { let z = x }')).toEqual(['def f(x) { let z = x }']);
  });

  it('model, and both loss forms', () => {
    expect(lines('model h = w\nloss square(target = y)\nloss R(v) = sum(v^2)\nloss square()')).toEqual([
      'model h = w',
      'loss square(target=y)',
      'loss R(v) = (sum (^ v 2))',
      'loss square()',
    ]);
  });

  it('test outputs, with and without a target, anywhere among the declarations', () => {
    expect(lines('test ht = f(Xt) / sqrt(n)\ntest g = w, target = yt / 2\nmodel h = w test t2 = sum(w)')).toEqual([
      'test ht = (/ (f Xt) (sqrt n))',
      'test g = w, target=(/ yt 2)',
      'model h = w',
      'test t2 = (sum w)',
    ]);
  });

  it('a test declaration spans from its keyword to the end of its target', () => {
    const src = 'param w = 0\ntest ht = w * 2, target = 3';
    const t = parseOk(src).decls[1]!;
    expect(t.kind).toBe('test');
    if (t.kind !== 'test') return;
    expect(src.slice(t.span.start, t.span.end)).toBe('test ht = w * 2, target = 3');
    expect(t.nameSpan).toMatchObject({ line: 2, col: 6, endCol: 7 });
    expect(src.slice(t.target!.span.start, t.target!.span.end)).toBe('target = 3');
    expect(src.slice(t.value.span.start, t.value.span.end)).toBe('w * 2');
    const bare = parseOk('test g = (w)').decls[0]!;
    expect(bare).toMatchObject({ kind: 'test', target: null, span: { col: 1, endCol: 12 } });
  });

  it('`test` is a whole-word keyword: tests and testing are names', () => {
    expect(lines('param tests = 1\nmodel testing = tests')).toEqual(['param tests = 1', 'model testing = tests']);
  });

  it('`loss square(v) = e` is a custom loss that happens to be called square', () => {
    const p = parseOk('loss square(v) = v');
    expect(p.decls[0]).toMatchObject({ kind: 'loss', form: 'custom', name: 'square', variable: 'v' });
  });

  it('statements need no separator, and may all sit on one line', () => {
    expect(lines('dim n = 2 param w : [n] = 0 model h = sum(w) loss square(target = 1)')).toEqual([
      'dim n = 2',
      'param w : [n] = 0',
      'model h = (sum w)',
      'loss square(target=1)',
    ]);
  });

  it('semicolons are optional separators, also repeated', () => {
    expect(lines('param w = 0;; model h = w;\n;')).toEqual(['param w = 0', 'model h = w']);
  });

  it('keywords are whole words: data2, definition and lossy are names', () => {
    expect(lines('param data2 = 1\nmodel definition = data2 + lossy')).toEqual([
      'param data2 = 1',
      'model definition = (+ data2 lossy)',
    ]);
  });

  it('an empty file and a file of comments are empty programs', () => {
    expect(parseOk('').decls).toEqual([]);
    expect(parseOk('# nothing\n\n   # here\n').decls).toEqual([]);
  });

  it('CRLF line endings', () => {
    const p = parseOk('param w = 0\r\nmodel h = w\r\n');
    expect(p.decls[1]!.span).toMatchObject({ line: 2, col: 1 });
  });
});

describe('spans', () => {
  it('a declaration runs from its keyword to the end of its value', () => {
    const src = 'param w = 0\nmodel h = w / sqrt(T)';
    const m = parseOk(src).decls[1]!;
    expect(m.kind).toBe('model');
    expect(m.span).toEqual({ line: 2, col: 1, endLine: 2, endCol: 21, start: 12, end: 33 });
    expect(src.slice(m.span.start, m.span.end)).toBe('model h = w / sqrt(T)');
    if (m.kind !== 'model') return;
    expect(m.nameSpan).toEqual({ line: 2, col: 7, endLine: 2, endCol: 7, start: 18, end: 19 });
    expect(m.value.kind).toBe('binary');
    if (m.value.kind !== 'binary') return;
    expect(src.slice(m.value.span.start, m.value.span.end)).toBe('w / sqrt(T)');
    expect(m.value.right).toMatchObject({ kind: 'call', callee: 'sqrt' });
    if (m.value.right.kind !== 'call') return;
    expect(m.value.right.calleeSpan).toMatchObject({ line: 2, col: 15, endCol: 18 });
    expect(m.value.right.span).toMatchObject({ line: 2, col: 15, endCol: 21 });
  });

  it('a block def spans lines up to its closing brace', () => {
    const src = 'def f(x) {\n  return x\n}\n';
    const d = parseOk(src).decls[0]!;
    expect(d.span).toEqual({ line: 1, col: 1, endLine: 3, endCol: 1, start: 0, end: src.length - 1 });
  });

  it('parentheses are part of the span of what they enclose', () => {
    const src = 'model h = (a + b) * c';
    const m = parseOk(src).decls[0]!;
    if (m.kind !== 'model' || m.value.kind !== 'binary') throw new Error('shape');
    expect(src.slice(m.value.span.start, m.value.span.end)).toBe('(a + b) * c');
    expect(src.slice(m.value.left.span.start, m.value.left.span.end)).toBe('(a + b)');
  });

  it('bindings, shapes, inits, named args, params, statements and loss names', () => {
    const src = `const T = 100, b = 2
data X : [n, d] ~ normal(0, 1, seed = 1)
def f(x : [d], y) { for l in 0 .. 2 { y = x } return y }
loss square(target = y)`;
    const p = parseOk(src);
    const text = (s: { start: number; end: number }) => src.slice(s.start, s.end);
    const c = p.decls[0]!;
    if (c.kind !== 'const') throw new Error('shape');
    expect(c.bindings.map((b) => text(b.span))).toEqual(['T = 100', 'b = 2']);
    expect(c.bindings.map((b) => text(b.nameSpan))).toEqual(['T', 'b']);
    const X = p.decls[1]!;
    if (X.kind !== 'data') throw new Error('shape');
    expect(text(X.shape!.span)).toBe('[n, d]');
    expect(text(X.init.span)).toBe('~ normal(0, 1, seed = 1)');
    if (X.init.expr.kind !== 'call') throw new Error('shape');
    expect(text(X.init.expr.named[0]!.span)).toBe('seed = 1');
    const f = p.decls[2]!;
    if (f.kind !== 'def' || f.body.kind !== 'block') throw new Error('shape');
    expect(f.params.map((q) => text(q.span))).toEqual(['x : [d]', 'y']);
    expect(f.body.stmts.map((s) => text(s.span))).toEqual(['for l in 0 .. 2 { y = x }', 'return y']);
    const l = p.decls[3]!;
    if (l.kind !== 'loss') throw new Error('shape');
    expect(text(l.span)).toBe('loss square(target = y)');
    expect(text(l.nameSpan)).toBe('square');
  });

  it('columns count characters, tabs included', () => {
    const src = '\tmodel h =\t w';
    const m = parseOk(src).decls[0]!;
    if (m.kind !== 'model') throw new Error('shape');
    expect(m.value.span).toMatchObject({ line: 1, col: 13, endCol: 13, start: 12, end: 13 });
  });
});
