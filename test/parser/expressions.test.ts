import { describe, expect, it } from 'vitest';
import { parseExpression } from '../../src/parser/index.ts';
import { sx } from './sexpr.ts';

function p(source: string): string {
  const { expr, diagnostics } = parseExpression(source, 'expr');
  expect(diagnostics).toEqual([]);
  return sx(expr!);
}

describe('precedence and associativity', () => {
  it.each([
    ['1 + 2 * 3', '(+ 1 (* 2 3))'],
    ['1 * 2 + 3', '(+ (* 1 2) 3)'],
    ['a - b - c', '(- (- a b) c)'],
    ['a / b / c', '(/ (/ a b) c)'],
    ['a / b * c', '(* (/ a b) c)'],
    ['A @ x + b', '(+ (@ A x) b)'],
    ['A @ B @ x', '(@ (@ A B) x)'],
    ['a * b @ c', '(@ (* a b) c)'],
    ['a ^ b ^ c', '(^ a (^ b c))'],
    ['-x^2', '(- (^ x 2))'],
    ['-x * y', '(* (- x) y)'],
    ['2^-1', '(^ 2 (- 1))'],
    ['2^-x^2', '(^ 2 (- (^ x 2)))'],
    ['a * b^2', '(* a (^ b 2))'],
    ['--x', '(- (- x))'],
    ['+x - -y', '(- (+ x) (- y))'],
    ['(a + b) * c', '(* (+ a b) c)'],
    ['(a + b)^2', '(^ (+ a b) 2)'],
    ['((x))', 'x'],
    ['a - (b - c)', '(- a (- b c))'],
    ['W[l]^2', '(^ (index W l) 2)'],
    ['x^W[0]', '(^ x (index W 0))'],
  ])('%s → %s', (src, expected) => {
    expect(p(src)).toBe(expected);
  });
});

describe('primaries and postfix', () => {
  it.each([
    ['42', '42'],
    ['0.5', '0.5'],
    ['.5', '0.5'],
    ['1e-3', '0.001'],
    ['2.5E+4', '25000'],
    ['1.', '1'],
    ['"X.npy"', '"X.npy"'],
    ['"a \\"quoted\\" \\\\ path"', '"a \\"quoted\\" \\\\ path"'],
    ['[0.5, -1]', '[0.5 (- 1)]'],
    ['[[1, 2], [3, 4]]', '[[1 2] [3 4]]'],
    ['[]', '[]'],
    ['f()', '(f)'],
    ['sqrt(2 * R0)', '(sqrt (* 2 R0))'],
    ['normal(0, 1, seed = 1)', '(normal 0 1 seed=1)'],
    ['sum(x, axis = 0)', '(sum x axis=0)'],
    ['f(axis = 0, keep = 1)', '(f axis=0 keep=1)'],
    ['f(a = b)', '(f a=b)'],
    ['W[l]', '(index W l)'],
    ['W[l][0]', '(index (index W l) 0)'],
    ['x[:, 0]', '(index x (: _ _) 0)'],
    ['x[1:]', '(index x (: 1 _))'],
    ['x[:2]', '(index x (: _ 2))'],
    ['x[1:3, i + 1]', '(index x (: 1 3) (+ i 1))'],
    ['f(X)[0]', '(index (f X) 0)'],
    ['(a + b)[0]', '(index (+ a b) 0)'],
    ['[1, 2][0]', '(index [1 2] 0)'],
    ['f(g(x), h(y)[1])', '(f (g x) (index (h y) 1))'],
  ])('%s → %s', (src, expected) => {
    expect(p(src)).toBe(expected);
  });

  it('a string value has its escapes resolved', () => {
    const { expr } = parseExpression('"a\\"b\\\\c\\n"', 'expr');
    expect(expr).toMatchObject({ kind: 'string', value: 'a"b\\c\n' });
  });

  it('a newline does not end an expression (newlines are whitespace)', () => {
    expect(p('a +\n b\n * c')).toBe('(+ a (* b c))');
    expect(p('W\n[0]')).toBe('(index W 0)');
  });

  it('slice spans run from the first to the last of lo, colon, hi', () => {
    const src = 'x[1:3, :, 2:]';
    const { expr } = parseExpression(src, 'expr');
    if (expr?.kind !== 'index') throw new Error('shape');
    expect(expr.items.map((i) => src.slice(i.span.start, i.span.end))).toEqual(['1:3', ':', '2:']);
  });

  it('unary and power spans', () => {
    const src = '-x^2';
    const { expr } = parseExpression(src, 'expr');
    expect(expr!.span).toEqual({ line: 1, col: 1, endLine: 1, endCol: 4, start: 0, end: 4 });
    if (expr?.kind !== 'unary') throw new Error('shape');
    expect(expr.operand.span).toEqual({ line: 1, col: 2, endLine: 1, endCol: 4, start: 1, end: 4 });
  });
});

describe('parseExpression errors', () => {
  function errs(src: string): string[] {
    const r = parseExpression(src, '--set T');
    expect(r.expr).toBeNull();
    return r.diagnostics.map((d) => `${d.file}:${d.span!.line}:${d.span!.col}: ${d.message}`);
  }

  it('empty input', () => {
    expect(errs('')).toEqual(['--set T:1:1: expected an expression']);
  });

  it('trailing tokens', () => {
    expect(errs('1 2')).toEqual(["--set T:1:3: unexpected '2' after the end of the expression"]);
  });

  it('a dangling operator', () => {
    expect(errs('1 +')).toEqual(["--set T:1:4: expected an expression after '+'"]);
  });

  it('a keyword where an operand belongs', () => {
    expect(errs('model')).toEqual(["--set T:1:1: unexpected keyword 'model': expected an expression"]);
  });
});
