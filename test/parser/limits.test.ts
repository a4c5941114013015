/**
 * The front end on hostile input (issue 21, item 1): linear time, bounded recursion, one located
 * error for what is not a model, control characters escaped, sizes and seeds checked.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, formatDiagnostic, NtkError } from '../../src/index.ts';
import { parseExpression, parseProgram } from '../../src/parser/index.ts';
import { MAX_NESTING, nestingError, notText } from '../../src/parser/limits.ts';
import { tokenize } from '../../src/parser/lexer.ts';
import { MAX_ELABORATION_STEPS } from '../../src/ir/elaborate.ts';
import { jsonNestingOffset, parseJsonArray, MAX_JSON_DEPTH } from '../../src/io/data.ts';
import { setMemoryBudget } from '../../src/runtime/memory.ts';

/** CPU milliseconds of f (less sensitive than wall time to a loaded machine). */
function cpuMs(f: () => void): number {
  const a = process.cpuUsage();
  f();
  const b = process.cpuUsage(a);
  return (b.user + b.system) / 1000;
}

function diagnostics(src: string): { message: string; line: number; col: number }[] {
  try {
    compile(src, 'm.ntk');
    return [];
  } catch (e) {
    if (!(e instanceof NtkError)) throw e;
    return e.diagnostics.map((d) => ({ message: d.message, line: d.span?.line ?? 0, col: d.span?.col ?? 0 }));
  }
}

const nested = (kind: string, n: number) => {
  switch (kind) {
    case 'parens': return `param w = 1\nmodel h = ${'('.repeat(n)}w${')'.repeat(n)}`;
    case 'calls': return `param w = 1\nmodel h = ${'sin('.repeat(n)}w${')'.repeat(n)}`;
    case 'arrays': return `param w = 1\nmodel h = sum(${'['.repeat(n - 1)}w${']'.repeat(n - 1)})`;
    case 'minus': return `param w = 1\nmodel h = ${'-'.repeat(n)}w`;
    case 'mixed': return `param w = 1\nmodel h = ${'-sin('.repeat(n / 2)}w${')'.repeat(n / 2)}`;
    default: return `param w = 1\nmodel h = w${'^-w'.repeat(n / 2)}`;
  }
};

describe('nesting: a stated limit, a located error beyond it, no stack overflow', () => {
  it.each(['parens', 'calls', 'arrays', 'minus', 'mixed', 'pow'])('%s: accepted at the limit, refused past it at the exceeding token', (kind) => {
    expect(diagnostics(nested(kind, MAX_NESTING - 2))).toEqual([]);
    for (const n of [MAX_NESTING + 2, 5000, 100000]) {
      const d = diagnostics(nested(kind, n));
      expect(d).toHaveLength(1);
      expect(d[0]!.message).toMatch(new RegExp(`nesting deeper than ${MAX_NESTING} levels`));
      expect(d[0]!.line).toBe(2);
    }
  });

  it('the counting follows the parser: binary operators and separators end prefix operators', () => {
    const t = (s: string) => nestingError(tokenize(s, 'x').tokens, 'x', 3);
    expect(t('-a * -b * -c - -d')).toBeNull(); // each sign closes with its operand
    expect(t('a ^ b ^ c ^ d')).toBeNull(); // 3
    expect(t('a ^ b ^ c ^ d ^ e')?.span?.col).toBe(15); // the 4th ^
    expect(t('f(g(h(x)))')).toBeNull();
    expect(t('f(g(h(k(x))))')?.span?.col).toBe(8);
    expect(t('((a), (b), (c))')).toBeNull();
  });

  it('--set values and parseExpression have the same limit', () => {
    const r = parseExpression('('.repeat(1000) + '1' + ')'.repeat(1000), '--set T');
    expect(r.expr).toBeNull();
    expect(r.diagnostics[0]!.message).toMatch(/nesting deeper/);
  });

  it('the whole front end at the limit runs with 60% of the default stack (a margin, not an edge)', () => {
    const bundle = join(__dirname, '../../dist/ntk.cjs');
    if (!existsSync(bundle)) return; // built by npm ci (prepare)
    const dir = mkdtempSync(join(tmpdir(), 'ntk-nest-'));
    for (const kind of ['calls', 'parens', 'mixed']) {
      const f = join(dir, `${kind}.ntk`);
      writeFileSync(f, nested(kind, MAX_NESTING));
      const r = spawnSync(process.execPath, ['--stack-size=600', bundle, 'check', f], { encoding: 'utf8' });
      expect(r.stderr, kind).not.toMatch(/stack|internal/i);
      expect(r.status, `${kind}: ${r.stderr}`).toBe(0);
    }
  }, 60000);
});

describe('long chains are not nesting: loops, not recursion', () => {
  it('a sum of 3·10⁴ terms and 2·10⁴ products elaborate (5000 overflowed the stack)', () => {
    const m = compile(`param w = 1\nmodel h = w${' + w'.repeat(30000)}`, 'sum.ntk');
    expect(m.paramCount).toBe(1);
    const m2 = compile(`param w = 1\nmodel h = w${' * 1.0001'.repeat(20000)} - w / 2 / 2`, 'prod.ntk');
    expect(m2.paramCount).toBe(1);
  }, 60000);
  it('the elaboration has a budget: nested loops of 10⁵ × 10⁵ are refused at the statement', () => {
    const d = diagnostics('param w = 1\ndef f(x) {\n let y = x\n for i in 0..100000 { for j in 0..100000 { y = y + 1 } }\n return y\n}\nmodel h = f(w)');
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(new RegExp(`more than ${MAX_ELABORATION_STEPS} expressions`));
    expect(d[0]!.line).toBe(4);
  }, 60000);
});

describe('time linear in the input', () => {
  const valid = (bytes: number) => {
    const lines = ['param w : [3] = 0.1'];
    let n = 0, i = 0;
    while (n < bytes) { const l = `const c${i} = ${i} * 2 + 1 - 3 / 4 # a comment`; lines.push(l); n += l.length + 1; i++; }
    lines.push('model h = sum(w) * c0');
    return lines.join('\n');
  };
  it('parsing 400 kB costs at most ~4× 100 kB (it was 9×: quadratic), and a 1 MB model parses', () => {
    parseProgram(valid(10000), 'warm.ntk');
    const t1 = Math.min(cpuMs(() => parseProgram(valid(100000), 'a.ntk')), cpuMs(() => parseProgram(valid(100000), 'a.ntk')));
    const t4 = Math.min(cpuMs(() => parseProgram(valid(400000), 'b.ntk')), cpuMs(() => parseProgram(valid(400000), 'b.ntk')));
    expect(t4 / t1).toBeLessThan(6);
    const big = valid(1_000_000);
    expect(parseProgram(big, 'c.ntk').diagnostics).toEqual([]);
  }, 120000);
  it('many errors: at most 100 reported, in time linear in the input (no per-error scan of all tokens)', () => {
    const junk = (n: number) => 'model h = 1 $ 2 $ 3\n'.repeat(n);
    const r = parseProgram(junk(20000), 'j.ntk');
    expect(r.diagnostics.length).toBe(101);
    expect(r.diagnostics[100]!.message).toMatch(/more errors not shown/);
    const t1 = cpuMs(() => parseProgram(junk(5000), 'j.ntk'));
    const t4 = cpuMs(() => parseProgram(junk(20000), 'j.ntk'));
    expect(t4 / Math.max(t1, 1)).toBeLessThan(8);
  }, 120000);
  it('a 10⁴-character unknown name: the error at once (no quadratic "did you mean")', () => {
    const a = 'a'.repeat(10000);
    let d: ReturnType<typeof diagnostics> = [];
    const t = cpuMs(() => (d = diagnostics(`param ${a} = 1\nmodel h = ${a}b`)));
    expect(d[0]!.message).toMatch(/unknown name/);
    expect(t).toBeLessThan(2000);
  });
});

describe('not text, control characters', () => {
  it('binary garbage: one located error within 100 ms (CPU) for 1 MB', () => {
    let s = 12345;
    const bytes = Buffer.alloc(1 << 20);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (s = (s * 1103515245 + 12345) % 2147483648) >> 16 & 255;
    const text = bytes.toString('utf8');
    parseProgram('param w = 1', 'warm.ntk');
    let r: ReturnType<typeof parseProgram> | null = null;
    const t = cpuMs(() => (r = parseProgram(text, 'bin.ntk')));
    expect(r!.diagnostics).toHaveLength(1);
    expect(r!.diagnostics[0]!.message).toMatch(/not text/);
    expect(r!.diagnostics[0]!.span).not.toBeNull();
    expect(t).toBeLessThan(100);
  });
  it('invalid UTF-8 without NUL is refused too; a stray control character is an ordinary located error', () => {
    expect(notText('\u00ff\ufffd'.repeat(100), 'x')?.message).toMatch(/not text/);
    expect(notText('param w = 1 # caf\u00e9\nmodel h = w', 'x')).toBeNull();
    const r = parseProgram('param w = 1\u0007\nmodel h = w', 'bell.ntk');
    expect(r.diagnostics).toHaveLength(1);
    const text = formatDiagnostic(r.diagnostics[0]!, 'param w = 1\u0007\nmodel h = w');
    expect(text).not.toMatch(/[\u0000-\u0008]/);
    expect(text).toMatch(/\\u0007/); // in the message
    expect(text).toMatch(/\u2407/); // in the echoed line, as a control picture (one column)
  });
  it('a NUL is named, escaped, located', () => {
    const src = 'param w\u0000 = 1\nmodel h = w';
    const r = parseProgram(src, 'nul.ntk');
    const text = formatDiagnostic(r.diagnostics[0]!, src);
    expect(text).toMatch(/^nul\.ntk:1:8: error: the file is not text: a NUL byte \(\\u0000\)/);
    expect(text).not.toMatch(/\u0000/);
  });
});

describe('sizes and seeds: located errors, not internal ones', () => {
  it.each([
    ['dim m = 1e300\nparam w : [m] = 0\nmodel h = sum(w)', /at most 4294967295/, 1],
    ['param w : [1e20] = 0\nmodel h = sum(w)', /at most 4294967295/, 1],
    ['param w : [2.5] = 0\nmodel h = sum(w)', /positive integer/, 1],
    ['param w : [1/0] = 0\nmodel h = sum(w)', /positive integer/, 1],
    ['param w : [2] ~ normal(0, 1, seed = 1e20)\nmodel h = sum(w)', /seed must be an integer from 0 to 2\^53/, 1],
    ['param w : [2] ~ normal(0, 1, seed = 0.5)\nmodel h = sum(w)', /seed must be an integer/, 1],
  ])('%s', (src, re, line) => {
    const d = diagnostics(src);
    expect(d).toHaveLength(1);
    expect(d[0]!.message).toMatch(re);
    expect(d[0]!.line).toBe(line);
  });
  it('the global seed option: safe integers only', () => {
    expect(() => compile('param w ~ normal(0, 1)\nmodel h = w', 'm.ntk', { seed: 1e20 })).toThrow(/seed must be an integer/);
  });
  it('a parameter over the memory budget: located, with the size and the option', () => {
    setMemoryBudget(64 * 1024 ** 2);
    try {
      const d = diagnostics('dim m = 1000000000\nparam w : [m] = 0\nmodel h = sum(w)');
      expect(d[0]!.line).toBe(2);
      expect(d[0]!.message).toMatch(/param 'w' : \[1000000000\].*needs 14\.9 GB.*--max-memory budget, 64\.0 MB.*--set/);
      const e = diagnostics('param w = 1\ndata Z : [1e9] = 0\nmodel h = w * sum(Z)');
      expect(e[0]!.message).toMatch(/data 'Z' : \[1000000000\].* needs 7\.5 GB/);
      // Together: two tensors that fit alone but not both.
      const f = diagnostics('param a : [3000000] = 0\ndata b : [3000000] = 1\nmodel h = sum(a * b)');
      expect(f[0]!.line).toBe(2);
      expect(f[0]!.message).toMatch(/with the parameters and data before it/);
    } finally {
      setMemoryBudget(null);
    }
  });
});

describe('JSON data nested deeper than a tensor', () => {
  it('10⁵ levels: refused, located, no stack overflow', () => {
    const text = '['.repeat(100000) + '1' + ']'.repeat(100000);
    expect(() => parseJsonArray(text, 'deep.json')).toThrow(new RegExp(`nested deeper than ${MAX_JSON_DEPTH}`));
    try {
      parseJsonArray(text, 'deep.json');
    } catch (e) {
      expect((e as { col?: number }).col).toBe(MAX_JSON_DEPTH + 1);
    }
  });
  it('brackets inside strings do not count; ordinary arrays parse', () => {
    expect(jsonNestingOffset('["[[[[", [1]]', 2)).toBe(-1);
    expect(parseJsonArray('[[1, 2], [3, 4]]', 'x.json').shape).toEqual([2, 2]);
  });
});
