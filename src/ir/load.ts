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
 * Options of `parseModel` and `loadModel`: what `ntk`'s `--set` and `--seed` give on the
 * command line.
 */
export interface ModelOptions extends ElaborateOptions {
  /**
   * The file name used in error messages (`file:line:col`); data files (`load("X.npy")`) are read
   * relative to its directory. `parseModel` only (default `'<input>'`, data relative to the
   * current directory); `loadModel` uses its path.
   */
  file?: string;
  /**
   * Overrides of the model's dims and consts, like `--set m=256 --set T=1000`: an object
   * (`{ m: 256, T: 1000 }`), a Map or [name, value] pairs. A name the model does not declare is
   * an error. Merged over `overrides` (the older spelling, a Map).
   */
  set?: Record<string, number> | Iterable<readonly [string, number]>;
}

/** `set` and `overrides` as the one Map the elaborator takes; a value that is not a finite number is a usage error. */
function elaborateOptions(opts: ModelOptions): ElaborateOptions {
  const { file: _file, set, ...rest } = opts;
  if (set === undefined) return rest;
  const overrides = new Map(rest.overrides ?? []);
  const pairs: Iterable<readonly [string, unknown]> =
    typeof (set as Iterable<unknown>)[Symbol.iterator] === 'function' ? (set as Iterable<readonly [string, number]>) : Object.entries(set);
  for (const [name, value] of pairs) {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new NtkError([{ severity: 'error', file: '--set', span: null, message: `set.${name}: expected a finite number, got ${JSON.stringify(value) ?? String(value)}` }]);
    overrides.set(name, value);
  }
  return { ...rest, overrides };
}

/**
 * Parse and elaborate source text into a `Model` (graph, parameters, data, output, loss).
 * Throws `NtkError` (its `diagnostics` located as `file:line:col`) on any error in the text.
 * @example const m = compile('const T = 100\nparam w = 0\nmodel h = w / sqrt(T)', 'toy.ntk');
 */
export function compile(source: string, file = '<input>', opts: ElaborateOptions = {}): Model {
  return elaborate(parse(source, file), opts);
}

/**
 * A model from `.ntk` source text: parse it and elaborate it into the tensor graph of
 * h : R^p → R^k with its initial weights w0 ∈ R^p (drawn with `seed`), data and loss R.
 * Throws `NtkError` (its `diagnostics` located as `file:line:col`) on any error in the text.
 * @example
 *   const model = parseModel(`
 *     const T = 100, b = 2
 *     param w = 0
 *     model h = w / sqrt(T) + b * w^2 / 2
 *     loss square(target = 1)`, { set: { T: 1000 } });
 *   model.paramCount; // 1
 */
export function parseModel(text: string, opts: ModelOptions = {}): Model {
  return compile(text, opts.file ?? '<input>', elaborateOptions(opts));
}

/**
 * A model from a `.ntk` file: read it, then `parseModel` with `file: path` (data files load
 * relative to it). A file that cannot be read is an `NtkError` too.
 * @example const model = loadModel('examples/deep.ntk', { set: { m: 256 }, seed: 3 });
 */
export function loadModel(path: string, opts: Omit<ModelOptions, 'file'> = {}): Model {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((e as Error).message);
    throw new NtkError([{ severity: 'error', file: path, span: null, message: `cannot read '${path}': ${why}` }]);
  }
  return compile(source, path, elaborateOptions(opts));
}
