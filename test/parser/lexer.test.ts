import { describe, expect, it } from 'vitest';
import { tokenize } from '../../src/parser/lexer.ts';

function kinds(source: string): string[] {
  const r = tokenize(source, 'm.ntk');
  expect(r.diagnostics).toEqual([]);
  return r.tokens.map((t) => `${t.tokenType.name}:${t.image}`);
}

describe('tokens', () => {
  it('keywords, names and longer names that start with a keyword', () => {
    expect(kinds('dim const data param def model loss let for in return')).toEqual([
      'Dim:dim',
      'Const:const',
      'Data:data',
      'Param:param',
      'Def:def',
      'Model:model',
      'Loss:loss',
      'Let:let',
      'For:for',
      'In:in',
      'Return:return',
    ]);
    expect(kinds('data2 definition index _x x_1 In')).toEqual([
      'Ident:data2',
      'Ident:definition',
      'Ident:index',
      'Ident:_x',
      'Ident:x_1',
      'Ident:In',
    ]);
  });

  it('numbers with fraction and exponent', () => {
    expect(kinds('1 0.5 1e-3 2.5E+4 .5 1. 1.e3 007')).toEqual([
      'NumberLit:1',
      'NumberLit:0.5',
      'NumberLit:1e-3',
      'NumberLit:2.5E+4',
      'NumberLit:.5',
      'NumberLit:1.',
      'NumberLit:1.e3',
      'NumberLit:007',
    ]);
  });

  it('a range never loses its dots to a number', () => {
    expect(kinds('0 .. H')).toEqual(['NumberLit:0', 'DotDot:..', 'Ident:H']);
    expect(kinds('0..H')).toEqual(['NumberLit:0', 'DotDot:..', 'Ident:H']);
    expect(kinds('1..3')).toEqual(['NumberLit:1', 'DotDot:..', 'NumberLit:3']);
    expect(kinds('0.5..2.5')).toEqual(['NumberLit:0.5', 'DotDot:..', 'NumberLit:2.5']);
  });

  it('operators and punctuation', () => {
    expect(kinds('+ - * / @ ^ = ~ : , ( ) [ ] { } .. ;').map((k) => k.split(':')[0])).toEqual([
      'Plus',
      'Minus',
      'Star',
      'Slash',
      'At',
      'Caret',
      'Equals',
      'Tilde',
      'Colon',
      'Comma',
      'LParen',
      'RParen',
      'LBracket',
      'RBracket',
      'LBrace',
      'RBrace',
      'DotDot',
      'Semi',
    ]);
  });

  it('strings with escapes', () => {
    expect(kinds('"X.npy" "a\\"b" "c\\\\"')).toEqual(['StringLit:"X.npy"', 'StringLit:"a\\"b"', 'StringLit:"c\\\\"']);
  });

  it('comments and whitespace (newlines included) are skipped; positions are 1-based', () => {
    const r = tokenize('# head\n  w # tail\n\t=', 'm.ntk');
    expect(r.tokens.map((t) => [t.image, t.startLine, t.startColumn])).toEqual([
      ['w', 2, 3],
      ['=', 3, 2],
    ]);
  });
});

describe('lexing errors', () => {
  function errs(source: string): string[] {
    return tokenize(source, 'm.ntk').diagnostics.map(
      (d) => `${d.file}:${d.span!.line}:${d.span!.col}-${d.span!.endCol}: ${d.message}`,
    );
  }

  it('every unknown character is reported, runs as one', () => {
    expect(errs('param w = $0\nmodel h = w ! 2 &&')).toEqual([
      "m.ntk:1:11-11: unexpected character '$'",
      "m.ntk:2:13-13: unexpected character '!'",
      "m.ntk:2:17-18: unexpected characters '&&'",
    ]);
  });

  it('an unterminated string is one error, and lexing goes on on the next line', () => {
    expect(errs('data X = load("X.npy)\nmodel h = $')).toEqual([
      'm.ntk:1:15-21: unterminated string: a string must be closed by \'"\' on the same line',
      "m.ntk:2:11-11: unexpected character '$'",
    ]);
  });

  it('an unknown escape is reported at the escape', () => {
    expect(errs('data X = load("a\\qb")')).toEqual([
      'm.ntk:1:17-18: unknown escape sequence \'\\q\' in a string (use \\" \\\\ \\n or \\t)',
    ]);
  });

  it('a lone dot is an unknown character', () => {
    expect(errs('a . b')).toEqual(["m.ntk:1:3-3: unexpected character '.'"]);
  });
});
