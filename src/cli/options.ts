/**
 * What every command of the CLI shares: the usage error (exit 2), the common options, parsing
 * option values, loading the model, printing JSON and the model's summary and warnings.
 * Parsing and formatting only: what a value means for a model is the studies' (`src/index.ts`).
 */
import { Option, type Command } from 'commander';
import { formatDiagnostic, loadModel, modelWarnings, type Model } from '../index.ts';

/** A usage error: exit 2. */
export class UsageError extends Error {}

/** The options every command on a model takes. */
export interface Common {
  json?: boolean;
  set: string[];
  seed?: string;
  debug?: boolean;
}

/** `--max-memory SIZE`: the run's memory budget (main.ts sets it before the command runs). */
export const maxMemoryOption = () => new Option('--max-memory <SIZE>', 'memory budget for large arrays, e.g. 2G or 512M (default: half the memory available)');

/** `--json`, `--set NAME=VALUE` (repeatable), `--seed S`, `--debug` and `--max-memory SIZE` on a command. */
export function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON object instead of a summary')
    .option('--set <NAME=VALUE>', 'override a dim or const (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--seed <S>', 'seed of random initializers (default 0)')
    .option('--debug', 'show stack traces of internal errors')
    .addOption(maxMemoryOption());
}

export const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

export function emitJson(value: unknown) {
  out(JSON.stringify(value));
}

/** `--set NAME=VALUE …` as a map (each name once, each value a finite number). */
export function parseSet(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const item of items) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(item.trim());
    if (!match) throw new UsageError(`--set ${item}: expected NAME=VALUE, e.g. --set m=256`);
    const value = Number(match[2]);
    if (!Number.isFinite(value)) throw new UsageError(`--set ${item}: '${match[2]}' is not a finite number`);
    if (m.has(match[1]!)) throw new UsageError(`--set ${match[1]} is given twice`);
    m.set(match[1]!, value);
  }
  return m;
}

export function intOption(name: string, raw: string | undefined, min: number, dflt: number): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`${name} ${raw}: expected an integer ≥ ${min} (and below 2^53)`);
  return v;
}

export function positive(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${name} ${raw}: expected a positive number`);
  return v;
}

/** A positive number, or the name of a dim/const of the model (which the study resolves). */
export function constantOption(name: string, raw: string | undefined): number | string | null {
  if (raw === undefined) return null;
  // NaN and Infinity are values (bad ones), not names of consts: a usage error like -1.
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw) && !/^(nan|inf|infinity)$/i.test(raw)) return raw;
  return positive(name, raw, 0);
}

/** A comma-separated list of integers ≥ min. */
export function intList(name: string, raw: string | undefined, min: number, command: string): number[] {
  if (raw === undefined) throw new UsageError(`${command} needs ${name} v1,v2,…`);
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (x.trim() === '' || !Number.isInteger(v) || v < min) throw new UsageError(`${name} ${raw}: '${x}' is not an integer ≥ ${min}`);
    return v;
  });
}

/** The model of FILE with the command's `--set` values and `--seed`. */
export function load(file: string, o: Common): Model {
  return loadModel(file, { overrides: parseSet(o.set), seed: intOption('--seed', o.seed, 0, 0) });
}

/** The summary's first lines: the model, its parameters, outputs (and test outputs). */
export function summaryHeader(m: Model): [string, string][] {
  return [
    ['model', `${m.outputName} : [${m.outputShape.join(', ')}]`],
    ['parameters', `${m.paramCount} (${m.params.map((q) => `${q.name}[${q.shape.join(',')}]`).join(', ')})`],
    ['outputs', String(m.outputShape.reduce((a, b) => a * b, 1))],
    ...(m.test ? [['test outputs', `${m.test.name} : [${m.test.shape.join(', ')}] (${m.test.shape.reduce((a, b) => a * b, 1)})`] as [string, string]] : []),
  ];
}

/** The model's warnings on stderr (not with --json: they are in the report or not asked for). */
export function printWarnings(m: Model, json: boolean | undefined) {
  if (json) return;
  for (const d of modelWarnings(m)) process.stderr.write(formatDiagnostic(d, m.source) + '\n');
}

/** A report's nested arrays as one flat array of numbers (row-major), for the summaries. */
export function flat(x: unknown): number[] {
  return typeof x === 'number' ? [x] : (x as unknown[]).flat(Infinity as 1) as number[];
}
