import { describe, expect, it } from 'vitest';
import { parseProgram } from '../../src/parser/index.ts';
import { formatDiagnostic } from '../../src/parser/diagnostics.ts';

/** `line:col: message` of every diagnostic; also checks that there is no program. */
function errs(source: string): string[] {
  const { program, diagnostics } = parseProgram(source, 'm.ntk');
  expect(program).toBeNull();
  for (const d of diagnostics) {
    expect(d.file).toBe('m.ntk');
    expect(d.severity).toBe('error');
  }
  return diagnostics.map((d) => `${d.span!.line}:${d.span!.col}: ${d.message}`);
}

describe('syntax errors: one message each', () => {
  it.each([
    // missing operands
    ['model h = ', ["1:10: expected an expression after '='"]],
    ['model h = 1 +', ["1:14: expected an expression after '+'"]],
    ['model h = a + * b', ["1:15: expected an expression after '+'"]],
    ['model h = 2^', ["1:13: expected an expression after '^'"]],
    ['param w ~ ', ["1:10: expected an expression after '~'"]],
    ['model h = f(a,\nloss R(v) = v', ["1:15: expected an expression after ','"]],
    ['model h = x[]', ["1:13: expected an index or a slice after '['"]],
    // missing closers: the caret goes right after the last good token
    ['model h = f(X', ["1:14: expected ')' to close the call of 'f'"]],
    ['model h = f(X\nloss square(target = y)', ["1:14: expected ')' to close the call of 'f'"]],
    ['model h = g(1, f(X)', ["1:20: expected ')' to close the call of 'g'"]],
    ['model h = (a + b', ["1:17: expected ')' to close the '(' at 1:11"]],
    ['model h = [1, 2', ["1:16: expected ']' to close the array opened at 1:11"]],
    ['model h = x[1, 2', ["1:17: expected ']' to close the index opened at 1:12"]],
    ['param w : [n = 0', ["1:14: unexpected '=': expected ',' or ']' to close the shape opened at 1:11"]],
    ['def f(x) { let z = 1\nmodel h = 1', ["1:21: expected '}' to close the block opened at 1:10"]],
    ['def f(x) { for l in 0 .. 3 { z = 1\n return z\n}', ["3:2: expected '}' to close the block opened at 1:10"]],
    ['loss square(target = y', ["1:23: expected ')' to close the call of 'square'"]],
    // a wrong token where a closer or separator belongs
    ['model h = f(a b)', ["1:15: unexpected 'b': expected ',' or ')' to close the call of 'f'"]],
    ['def f(x : [d] y) = x', ["1:15: unexpected 'y': expected ',' or ')' to close the parameter list of 'f'"]],
    ['def f(x : [d) = x', ["1:13: unexpected ')': expected ',' or ']' to close the shape opened at 1:11"]],
    ['model h = (a b)', ["1:14: unexpected 'b': expected ')' to close the '(' at 1:11"]],
    // declarations
    ['dim = 3', ["1:5: expected a name after 'dim', found '='"]],
    ['dim n 16', ["1:7: expected '=' after 'n', found '16'"]],
    ['const T = 1,', ["1:13: expected a name after ',', found end of file"]],
    ['param v 3', ["1:9: expected '=' or '~' after 'v' to give an initial value, found '3'"]],
    ['param v : [2] 3', ["1:15: expected '=' or '~' after ']' to give an initial value, found '3'"]],
    ['param w : 3 = 0', ["1:11: unexpected '3': expected '['"]],
    ['model = w', ["1:7: expected a name after 'model', found '='"]],
    ['model h w', ["1:9: expected '=' after 'h', found 'w'"]],
    ['def f(x) 3', ["1:10: expected '=' or '{' to start the body of the function, found '3'"]],
    ['def f x = x', ["1:7: expected '(' after 'f', found 'x'"]],
    ['loss R(v) v', ["1:11: expected '=' after ')', found 'v'"]],
    ['loss R(v)\nmodel h = 1', ["1:10: expected '=' after ')', found keyword 'model'"]],
    // test outputs
    ['test = w', ["1:6: expected a name after 'test', found '='"]],
    ['test g w', ["1:8: expected '=' after 'g', found 'w'"]],
    ['test g = ', ["1:9: expected an expression after '='"]],
    ['test g = w,', ["1:12: expected a name after ',', found end of file"]],
    ['test g = w, target y', ["1:20: expected '=' after 'target', found 'y'"]],
    ['test g = w, target =\nmodel h = w', ["1:21: expected an expression after '='"]],
    ['test g = w, 3', ["1:13: expected a name after ',', found '3'"]],
    ['model h = f(X\ntest g = f(Xt)', ["1:14: expected ')' to close the call of 'f'"]],
    ['loss R(v)\ntest g = w', ["1:10: expected '=' after ')', found keyword 'test'"]],
    ['test g = w target = 1', [
      "1:12: unexpected 'target': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')",
    ]],
    // statements
    ['def f(x) { z 1 \n return z\n}', ["1:14: expected '=' after 'z', found '1'"]],
    ['def f(x) { for l in 0 H { z = 1 }\n return z\n}', ["1:23: expected '..' after '0', found 'H'"]],
    ['def f(x) { for l 0 .. 3 { z = 1 } return z }', ["1:18: expected 'in' after 'l', found '0'"]],
    ['def f(x) { let z = 1\n 5\n return z }', [
      "2:2: unexpected '5': expected a statement ('let', 'for', 'return' or 'NAME = …') or '}' to close the block opened at 1:10",
    ]],
    // top level
    ['model h = a b\nparam w = 0', [
      "1:13: unexpected 'b': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')",
    ]],
    ['w = 0', ["1:1: unexpected 'w': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')"]],
    ['return 1', [
      "1:1: unexpected keyword 'return': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')",
    ]],
  ] as const)('%s', (src, expected) => {
    expect(errs(src)).toEqual(expected);
  });
});

describe('errors the grammar leaves to the tree builder', () => {
  it('a keyword used as a name is one error, not a cascade', () => {
    expect(errs('param data = 3\nmodel for = 1\ndim n = 2, in = 3\ndef f(let) = 1')).toEqual([
      "1:7: 'data' is a keyword and cannot be used as a name",
      "2:7: 'for' is a keyword and cannot be used as a name",
      "3:12: 'in' is a keyword and cannot be used as a name",
      "4:7: 'let' is a keyword and cannot be used as a name",
    ]);
  });

  it('positional after named, and a named argument given twice', () => {
    expect(errs('model h = f(x = 1, 2, x = 3)')).toEqual([
      "1:20: positional argument after the named argument 'x'",
      "1:23: argument 'x' is given twice",
    ]);
  });

  it("a test declaration's only option is target, given once", () => {
    expect(errs('test g = w, tgt = 1\ntest g = w, target = 1, target = 2')).toEqual([
      "1:13: unknown option 'tgt' of test (only 'target')",
      "2:25: option 'target' is given twice",
    ]);
  });

  it("'test' is a keyword", () => {
    expect(errs('param test = 0')).toEqual(["1:7: 'test' is a keyword and cannot be used as a name"]);
  });

  it('a call-form loss must be square, with named arguments', () => {
    expect(errs('loss mse(target = y)\nloss square(y)\nloss square(y / 2)')).toEqual([
      "1:6: unknown loss 'mse': write 'loss square(target = …)' or 'loss NAME(v) = expression'",
      "2:13: the square loss takes named arguments only, e.g. 'square(target = y)'",
      "3:13: the square loss takes named arguments only, e.g. 'square(target = y)'",
    ]);
  });
});

describe('all errors in a file are reported', () => {
  it('one per broken declaration, in source order', () => {
    const src = `dim n = 16, d = 3
param w = 0 0
param v 3
model h = a + * b
dim = 3
def f(x) { let z = x return z
loss square(target = y`;
    expect(errs(src)).toEqual([
      "2:13: unexpected '0': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')",
      "3:9: expected '=' or '~' after 'v' to give an initial value, found '3'",
      "4:15: expected an expression after '+'",
      "5:5: expected a name after 'dim', found '='",
      "6:30: expected '}' to close the block opened at 6:10",
      "7:23: expected ')' to close the call of 'square'",
    ]);
  });

  it('lexing and syntax errors together, sorted by position', () => {
    expect(errs('param w = 0 !\nmodel h = w +\ndata X = load("x.npy)\nmodel g = 1 1')).toEqual([
      "1:13: unexpected character '!'",
      "2:14: expected an expression after '+'",
      '3:15: unterminated string: a string must be closed by \'"\' on the same line',
      "4:13: unexpected '1': expected a declaration ('dim', 'const', 'data', 'param', 'def', 'model', 'loss', 'test')",
    ]);
  });

  it('no syntax error where the lexer already reported lost text', () => {
    expect(errs('param w = $\nmodel h = "abc\ndata X = load("x.npy)')).toEqual([
      "1:11: unexpected character '$'",
      '2:11: unterminated string: a string must be closed by \'"\' on the same line',
      '3:15: unterminated string: a string must be closed by \'"\' on the same line',
    ]);
  });

  it('an unknown character between tokens does not disturb the parse', () => {
    expect(errs('param w = $0\nmodel h = w')).toEqual(["1:11: unexpected character '$'"]);
  });

  it('the parser instance is reused: a good parse after a bad one is clean', () => {
    errs('model h = (');
    expect(parseProgram('model h = 1', 'm.ntk').diagnostics).toEqual([]);
  });
});

describe('formatting', () => {
  it('prints file:line:col, the source line and a caret under the offending token', () => {
    const src = 'param w = 0\nmodel h = w ++ ) 2';
    const { diagnostics } = parseProgram(src, 'tight.ntk');
    expect(diagnostics.map((d) => formatDiagnostic(d, src))).toEqual([
      "tight.ntk:2:16: error: expected an expression after '+'\n  model h = w ++ ) 2\n                 ^",
    ]);
  });

  it('a missing closer at the end of a line puts the caret after the last token', () => {
    const src = 'model h = f(X\n';
    const { diagnostics } = parseProgram(src, 'm.ntk');
    expect(formatDiagnostic(diagnostics[0]!, src)).toBe(
      "m.ntk:1:14: error: expected ')' to close the call of 'f'\n  model h = f(X\n               ^",
    );
    expect(diagnostics[0]!.span).toEqual({ line: 1, col: 14, endLine: 1, endCol: 14, start: 13, end: 13 });
  });
});

describe('cascades', () => {
  it('one syntax error per line: what recovery finds after the first error on a line is dropped', () => {
    expect(errs('def f(x) {\n  z 1= tanh(x)\n  return z\n}')).toEqual(["2:5: expected '=' after 'z', found '1'"]);
  });

  it('but errors on different lines are all kept', () => {
    expect(errs('dim n 16\nconst T 1\nparam w 0')).toEqual([
      "1:7: expected '=' after 'n', found '16'",
      "2:9: expected '=' after 'T', found '1'",
      "3:9: expected '=' or '~' after 'w' to give an initial value, found '0'",
    ]);
  });
});
