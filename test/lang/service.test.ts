/** The language service behind `ntk lsp` and the playground's editor (src/lang/service.ts). */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { analyze, completions, definition, hover } from '../../src/lang/service.ts';
import { compile, NtkError } from '../../src/index.ts';

const file = 'examples/meanfield.ntk';
const source = readFileSync(file, 'utf8');

describe('analyze', () => {
  it('elaborates an example: no errors, shapes known', () => {
    const a = analyze(source, file);
    expect(a.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(a.model?.paramCount).toBe(64 + 64 * 3);
    expect(a.symbols.find((s) => s.name === 'U')!.detail).toBe('param U : [64, 3]  (192 parameters)');
  });

  it('gives the CLI\'s diagnostics (the same as compile throws) instead of throwing', () => {
    const bad = 'dim n = 4\nparam w : [n] ~ normal(0, 1)\nmodel h = sigmoidd(w) * 2\n';
    const a = analyze(bad, 'bad.ntk');
    let thrown: NtkError | null = null;
    try {
      compile(bad, 'bad.ntk');
    } catch (e) {
      thrown = e as NtkError;
    }
    expect(a.diagnostics).toEqual(thrown!.diagnostics);
    expect(a.diagnostics[0]!.span).toMatchObject({ line: 3, col: 11 });
    // A syntax error too, and the names before it are still indexed.
    const syntax = analyze('param w = 0\nmodel h = w +\n', 'syn.ntk');
    expect(syntax.diagnostics[0]!.severity).toBe('error');
    expect(syntax.model).toBeNull();
  });

  it('refuses declared tensors over maxBytes before allocating them, naming the size', () => {
    const a = analyze('dim m = 100000\nparam W : [m, m] ~ normal(0, 1)\nmodel h = sum(W)\n', 'big.ntk', { maxBytes: 2 ** 29 });
    expect(a.diagnostics[0]!.message).toBe("param 'W' : [100000, 100000] has 1.00e+10 entries (74.5 GB): more than the 512 MB allowed here");
    expect(a.diagnostics[0]!.span).toMatchObject({ line: 2, col: 11 });
    // Without the option (the CLI) nothing changes for a model that fits.
    expect(analyze('param w : [3] ~ normal(0, 1)\nmodel h = sum(w)\n', 'ok.ntk', { maxBytes: 24 }).diagnostics).toEqual([]);
    expect(analyze('param w : [4] ~ normal(0, 1)\nmodel h = sum(w)\n', 'ok.ntk', { maxBytes: 24 }).diagnostics[0]!.message).toMatch(/32 bytes/);
  });
});

describe('hover, definition, completion', () => {
  const a = analyze(source, file);
  const at = (needle: string, plus = 0) => source.indexOf(needle) + plus;

  it('hovers names with kind and shape, builtins with their description', () => {
    expect(hover(a, at('U @ x'))!.text).toBe('param U : [64, 3]  (192 parameters)');
    expect(hover(a, at('f(X)', 2))!.text).toBe('data X : [16, 3]');
    expect(hover(a, at('model h', 6))!.text).toBe('model h : [16]  (16 outputs, 256 parameters)');
    expect(hover(a, at('sqrt(m) *', 5))!.text).toBe('dim m = 64');
    expect(hover(a, at('@ x', 2))!.text).toBe('argument x : [d] of f');
    expect(hover(a, at('sigmoid('))!.text).toMatch(/^sigmoid\(x\)/);
    expect(hover(a, at('# The'))).toBeNull();
  });

  it('finds definitions of globals and of a def\'s arguments', () => {
    expect(definition(a, at('f(X)'))!.start).toBe(at('def f', 4));
    expect(definition(a, at('U @ x'))!.start).toBe(at('param U', 6));
    expect(definition(a, at('@ x', 2))!.start).toBe(at('x : [d]'));
    expect(definition(a, at('sigmoid('))).toBeNull();
  });

  it('completes by prefix: names, builtins, keywords', () => {
    const end = source.length;
    const all = completions(a, end).items.map((c) => c.label);
    for (const l of ['X', 'y', 'a', 'U', 'f', 'h', 'n', 'm', 'sigmoid', 'load', 'param', 'def']) expect(all).toContain(l);
    expect(all).not.toContain('x'); // f's argument is not visible outside f
    const b = analyze(`${source}model g = si`, file);
    expect(completions(b, b.source.length).items.map((c) => c.label)).toEqual(['sigmoid', 'sign', 'sin', 'sinh']);
  });
});
