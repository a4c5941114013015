/**
 * The editors' lists of builtins and keywords (the playground's highlighter, the TextMate grammar
 * of editors/) against the language's own: a builtin added to the elaborator must be added there.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { FUNCTION_DOCS } from '../../src/lang/service.ts';
import { keywords } from '../../src/parser/lexer.ts';

const grammar = JSON.parse(readFileSync('editors/ntk.tmLanguage.json', 'utf8')) as {
  repository: Record<string, { patterns: { match?: string; name?: string }[] }>;
};

describe('editor grammars', () => {
  it('the playground highlights exactly the builtins the elaborator knows', async () => {
    // editor.ts imports CodeMirror (ES modules, no DOM needed to read a constant).
    const { BUILTINS } = await import('../../playground/src/editor.ts');
    expect([...BUILTINS].sort()).toEqual(Object.keys(FUNCTION_DOCS).sort());
  });

  it('the TextMate grammar has the same builtins and every keyword, and its copy in editors/vscode/ is identical', () => {
    const builtin = grammar.repository.expression!.patterns.find((p) => p.name === 'support.function.builtin.ntk')!;
    const names = /\\b\(([^)]*)\)/.exec(builtin.match!)![1]!.split('|').sort();
    expect(names).toEqual(Object.keys(FUNCTION_DOCS).sort());
    const all = JSON.stringify(grammar);
    for (const k of keywords) expect(all, k).toMatch(new RegExp(`[(|]${k}[)|]`));
    expect(readFileSync('editors/vscode/syntaxes/ntk.tmLanguage.json', 'utf8')).toBe(readFileSync('editors/ntk.tmLanguage.json', 'utf8'));
  });

  it('its regexes classify the tokens of a declaration', () => {
    const line = 'param U : [m, d] ~ uniform(-1/sqrt(m), 1.5e-3) # drawn';
    const comment = grammar.repository.comment as unknown as { match: string; name: string };
    const pats = [comment, ...grammar.repository.expression!.patterns.filter((p) => p.match)];
    const first = (text: string) => pats.find((p) => new RegExp(`^(?:${p.match})`).test(text))?.name;
    expect(first('uniform(')).toBe('support.function.builtin.ntk');
    expect(first('1.5e-3')).toBe('constant.numeric.ntk');
    expect(first('"X.npy"')).toBe('string.quoted.double.ntk');
    expect(first('f(')).toBe('entity.name.function.call.ntk');
    expect(first('# drawn')).toBe('comment.line.number-sign.ntk');
    const decl = grammar.repository.declaration!.patterns.find((p) => p.match && new RegExp(p.match).test(line))!;
    expect(new RegExp(decl.match!).exec(line)![2]).toBe('U');
  });
});
