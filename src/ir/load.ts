/** Reading a `.ntk` file into a `Model`: parse, then elaborate (data files load relative to it). */
import { readFileSync } from 'node:fs';
import { parseProgram } from '../parser/index.ts';
import { NtkError, type Diagnostic } from '../parser/diagnostics.ts';
import type { Program } from '../parser/ast.ts';
import { elaborate, type ElaborateOptions } from './elaborate.ts';
import type { Model } from './model.ts';

/**
 * Parse a `.ntk` program. Returns the AST, or throws `NtkError` with every syntax error.
 * @example const program = parse('param w = 0\nmodel h = w^2', 'toy.ntk');
 */
export function parse(source: string, file = '<input>'): Program {
  const { program, diagnostics } = parseProgram(source, file);
  if (!program || diagnostics.some((d: Diagnostic) => d.severity === 'error')) throw new NtkError(diagnostics);
  return program;
}

/**
 * Parse and elaborate source text into a `Model` (graph, parameters, data, output, loss).
 * @example const m = compile('const T = 100\nparam w = 0\nmodel h = w / sqrt(T)', 'toy.ntk');
 */
export function compile(source: string, file = '<input>', opts: ElaborateOptions = {}): Model {
  return elaborate(parse(source, file), opts);
}

/** Read, parse and elaborate a `.ntk` file. */
export function loadModel(path: string, opts: ElaborateOptions = {}): Model {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((e as Error).message);
    throw new NtkError([{ severity: 'error', file: path, span: null, message: `cannot read '${path}': ${why}` }]);
  }
  return compile(source, path, opts);
}
