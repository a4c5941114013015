/**
 * The arrays of the commands' reports written to files (`--out FILE.npy|.csv|.json`, issue 20),
 * and the check, before any work, that a command's result fits in memory where it goes.
 *
 * Each command's arrays have the keys of its report (its `--json`), and so do its files: a
 * command with one array (`kernel`: K, `jacobian`: J) writes FILE itself, the others write
 * `<stem>.<key>.<ext>` per array (`io/arrays.ts`), e.g. `ntk flow … --out F.csv` →
 * `F.trajectory.csv`, `F.out.csv`, `F.linOut.csv`. With `out` a report holds `files`
 * (key, path, shape, dtype of each) instead of those arrays: the summary only.
 */
import { arrayPaths, checkArrayOut, writeArrays, type ResultArray, type WrittenFile } from '../io/arrays.ts';
import { ensureResult, type ResultSink } from '../io/memory.ts';
import { LIMIT_KERNEL_KEYS } from '../nth/limit.ts';

/**
 * How a report leaves the process: `out` — its arrays go to files there (the report then names
 * them in `files` instead of holding them); `json` — it will be printed as JSON text (which the
 * memory check counts).
 */
export interface OutOptions {
  out?: string | null;
  json?: boolean;
}

/**
 * The arrays each command can write, by report key (and so by file name), in order.
 * @example OUT_KEYS.predict // ['mean', 'variance', 'cov', 'predictions']
 */
export const OUT_KEYS = {
  kernel: ['K'],
  jacobian: ['J'],
  limit: LIMIT_KERNEL_KEYS,
  predict: ['mean', 'variance', 'cov', 'predictions'],
  flow: ['trajectory', 'out', 'linOut', 'testOut', 'linTestOut'],
  descent: ['trajectory', 'out', 'linOut'],
  nth: ['out', 'trueOut', 'K2', 'trueK2', 'testOut', 'trueTestOut'],
  early: ['trajectory', 'out', 'linOut'],
} as const;
/** A command with array results (a key of `OUT_KEYS`). */
export type OutCommand = keyof typeof OUT_KEYS;

/** The commands whose one array is written to FILE itself (the others: `<stem>.<key>.<ext>`). */
const SINGLE: ReadonlySet<OutCommand> = new Set(['kernel', 'jacobian']);

/** An example file name per command, for the messages that suggest `--out`. */
const EXAMPLE: Record<OutCommand, string> = {
  kernel: 'K.npy', jacobian: 'J.npy', limit: 'K.npy', predict: 'P.npy', flow: 'F.csv', descent: 'F.csv', nth: 'N.npy', early: 'E.csv',
};

/**
 * Check `--out` before any work (OutputPathError: exit 2): a .npy, .csv or .json name whose
 * directory exists and is writable, with no directory where one of the command's files goes.
 * @example checkOut('limit', 'out/K.npy') // checks out/K.nngp.npy, out/K.ntk.npy, …
 */
export function checkOut(command: OutCommand, path: string): void {
  checkArrayOut(path, OUT_KEYS[command], SINGLE.has(command));
}

/**
 * The files `--out path` of `command` writes (those whose arrays the report has).
 * @example outPaths('flow', 'F.csv') // ['F.trajectory.csv', 'F.out.csv', …]
 */
export function outPaths(command: OutCommand, path: string): string[] {
  return arrayPaths(path, OUT_KEYS[command], SINGLE.has(command));
}

/**
 * Where a result goes (`ResultSink` of io/memory.ts).
 * @example sinkOf({ out: 'K.npy', json: true }) // 'file'
 */
export function sinkOf(o: OutOptions): ResultSink {
  return o.out ? 'file' : o.json ? 'json' : 'report';
}

/**
 * Refuse, before computing it, a result of `command` that would not fit in memory where it goes
 * (`ensureResult`): `values` float64 numbers and `working` bytes besides; the message suggests
 * `--out` when that fits, else `smaller`.
 * @example guardResult('jacobian', { json: true }, { what: 'the Jacobian (1000 × 10⁶)', values: 1e9, smaller: 'fewer outputs' })
 */
export function guardResult(command: OutCommand, o: OutOptions, r: { what: string; values: number; working?: number; smaller: string; toFile?: string; fileValues?: number }): void {
  ensureResult({
    what: r.what, values: r.values, sink: sinkOf(o), working: r.working ?? 0,
    toFile: r.toFile ?? `write it to files instead: --out ${EXAMPLE[command]} (the summary stays on stdout)`, smaller: r.smaller,
    ...(r.fileValues === undefined ? {} : { fileValues: r.fileValues }),
  });
}

/**
 * Write the arrays of a report to `out` and return the report without them, naming the files in
 * `files` (key, path, shape, dtype). All files are committed together, once all are written.
 * @example withFiles('nth', 'N.npy', report, [vectorArray('out', report.out)]) // { …report without out, files: [{ key: 'out', path: 'N.out.npy', … }] }
 */
export function withFiles<R extends object, K extends string>(command: OutCommand, out: string, report: R, arrays: (ResultArray & { key: K })[]): Omit<R, K> & { files: WrittenFile[] } {
  const keys = OUT_KEYS[command] as readonly string[];
  for (const a of arrays) if (!keys.includes(a.key)) throw new RangeError(`internal: '${a.key}' is not an array of ${command} (${keys.join(', ')})`);
  const files = writeArrays(out, arrays, SINGLE.has(command));
  const rest = { ...report } as Record<string, unknown>;
  for (const a of arrays) delete rest[a.key];
  return { ...(rest as Omit<R, K>), files };
}

/**
 * A vector (or any flat array) as an array of `shape` (default: its length).
 * @example vectorArray('K2', r.K2, [k, k]) // { key: 'K2', shape: [k, k], data: r.K2 }
 */
export function vectorArray<K extends string>(key: K, v: ArrayLike<number>, shape: number[] = [v.length]): ResultArray & { key: K } {
  return { key, shape, data: v instanceof Float64Array ? v : Float64Array.from(v) };
}

/**
 * A matrix of nested rows (a limit kernel, a covariance), written row by row: never a second whole copy.
 * @example matrixArray('cov', [[1, 0], [0, 1]]).shape // [2, 2]
 */
export function matrixArray<K extends string>(key: K, M: readonly (readonly number[])[]): ResultArray & { key: K } {
  const cols = M[0]?.length ?? 0;
  return {
    key, shape: [M.length, cols],
    data: (function* () {
      for (const row of M) yield Float64Array.from(row);
    })(),
  };
}

/**
 * Rows of objects (a trajectory) as a table: one row per object, one column per name, null or
 * a missing value as NaN.
 * @example tableArray('trajectory', r.trajectory, ['t', 'error', 'weightChange', 'linWeightChange'])
 */
export function tableArray<K extends string>(key: K, rows: readonly object[], columns: readonly string[]): ResultArray & { key: K } {
  const data = new Float64Array(rows.length * columns.length);
  rows.forEach((row, i) =>
    columns.forEach((c, j) => {
      const v = (row as Record<string, unknown>)[c];
      data[i * columns.length + j] = typeof v === 'number' ? v : NaN;
    }),
  );
  return { key, shape: [rows.length, columns.length], data, columns: [...columns] };
}
