/**
 * The arrays of a result written to files: `--out FILE.npy|.csv|.json` of every command that
 * returns arrays (kernels, Jacobians, limit kernels, predictions, trajectories). One writer per
 * format, each fed the values block by block in C order — from the array itself (a view: never a
 * second copy) or from a generator that computes them (a Jacobian by blocks of rows: never held
 * whole) — and each atomic (io/atomic.ts): the target is the old file or the complete new one.
 *
 *  - `.npy`: NumPy's format, dtype `<f8`, C order (`NpyWriter`; `numpy.load`, also memory-mapped).
 *  - `.csv`: one line per row of the last axis (a vector: one value per line; more than two axes:
 *    the rows of the last one, in C order — reshape with the shape the command reports); a table
 *    (a trajectory) starts with a header line of its column names. Values in the shortest text
 *    that reads back to the same float64 (`String(x)`), `nan`, `inf`, `-inf` for the others.
 *  - `.json`: the nested arrays (a number for shape []), the same shortest texts; JSON has no NaN
 *    or infinity, so those are `null`.
 *
 * All three are read back by the project's own reader (`loadArray` in io/data.ts: the header line
 * of a table is skipped), by numpy (`np.load`, `np.loadtxt(…, delimiter=',')` — `skiprows=1` for
 * a table — `np.array(json.load(f))`) and by pandas.
 *
 * A command with one array writes it to FILE itself; a command with several (limit: NNGP and
 * NTK, …) writes each to FILE's stem, its key and the extension: `--out K.npy` → `K.nngp.npy`,
 * `K.ntk.npy`. All of a command's files are committed together once all are written.
 */
import * as nodePath from 'node:path';
import { AtomicFile, checkOutputPath, OutputPathError } from './atomic.ts';
import { NpyWriter } from './npy.ts';

/**
 * The formats of `--out`, by extension.
 * @example ARRAY_FORMATS.includes('npy') // true
 */
export const ARRAY_FORMATS = ['npy', 'csv', 'json'] as const;
/** A format of `--out`: 'npy', 'csv' or 'json'. */
export type ArrayFormat = (typeof ARRAY_FORMATS)[number];

/**
 * An array of a result: row-major float64 values of `shape`. `data` is the whole array (a
 * Float64Array is written from views of it, a number[] converted block by block) or an iterable
 * of consecutive blocks in C order (computed as they are written). A table (a trajectory) names
 * the columns of its last axis.
 */
export interface ResultArray {
  /** Its key in the command's report (`K`, `J`, `ntk`, `trajectory`, …): the file name's middle part. */
  key: string;
  shape: number[];
  data: Float64Array | readonly number[] | Iterable<Float64Array>;
  columns?: string[];
}

/** A file written: the array's key, its path, shape and dtype (and a table's column names). */
export interface WrittenFile {
  key: string;
  path: string;
  shape: number[];
  dtype: 'float64';
  columns?: string[];
}

/** Values per block written (512 kB of float64; about 1.5 MB of text). */
const BLOCK = 1 << 16;

/**
 * The format of an output path, by its extension (case-insensitive), or null for another one.
 * @example arrayFormat('K.NPY') // 'npy'
 */
export function arrayFormat(path: string): ArrayFormat | null {
  const ext = nodePath.extname(path).slice(1).toLowerCase();
  return (ARRAY_FORMATS as readonly string[]).includes(ext) ? (ext as ArrayFormat) : null;
}

/**
 * The file of each key: `path` itself for a command with one array (`single`), else
 * `<stem>.<key>.<ext>` (the stem is `path` without its extension).
 * @example arrayPaths('out/K.npy', ['nngp', 'ntk'], false) // ['out/K.nngp.npy', 'out/K.ntk.npy']
 */
export function arrayPaths(path: string, keys: readonly string[], single: boolean): string[] {
  if (single) return keys.map(() => path);
  const ext = nodePath.extname(path);
  const stem = path.slice(0, path.length - ext.length);
  return keys.map((key) => `${stem}.${key}${ext}`);
}

/**
 * Check an `--out` path before any work (OutputPathError, exit 2 in the CLI): a known extension
 * (of `formats`), an existing writable directory, and no directory where a file goes — for each
 * file the command may write (`keys`, see `arrayPaths`).
 * @example checkArrayOut('K.txt', ['K'], true) // throws "--out K.txt: expected a file name ending in .npy, .csv or .json"
 */
export function checkArrayOut(path: string, keys: readonly string[], single: boolean, opts: { option?: string; formats?: readonly ArrayFormat[] } = {}): void {
  const option = opts.option ?? '--out';
  const formats = opts.formats ?? ARRAY_FORMATS;
  const format = arrayFormat(path);
  if (format === null || !formats.includes(format))
    throw new OutputPathError(`${option} ${path}: expected a file name ending in ${formats.map((f) => `.${f}`).join(', ').replace(/, ([^,]*)$/, ' or $1')}`);
  for (const p of arrayPaths(path, keys, single)) checkOutputPath(p, option);
}

/** One format's writer: values in C order, block after block, then commit (or abort). */
interface FormatWriter {
  write(values: Float64Array): void;
  commit(): void;
  abort(): void;
}

/**
 * Write the arrays of a result to `path` (one array: `single`, to `path` itself; else each to
 * `arrayPaths`), in the format of its extension, streamed and atomic: all files are written to
 * temporary files first and renamed over their targets only when every one is complete.
 * Returns what was written, in order.
 * @example writeArrays('K.npy', [{ key: 'K', shape: [k, k], data: K }], true) // [{ key: 'K', path: 'K.npy', shape: [k, k], dtype: 'float64' }]
 */
export function writeArrays(path: string, arrays: readonly ResultArray[], single: boolean): WrittenFile[] {
  const format = arrayFormat(path);
  if (format === null) throw new OutputPathError(`--out ${path}: expected a file name ending in .npy, .csv or .json`);
  if (single && arrays.length !== 1) throw new RangeError(`internal: ${arrays.length} arrays for the one file ${path}`);
  const paths = arrayPaths(path, arrays.map((a) => a.key), single);
  const writers: FormatWriter[] = [];
  try {
    arrays.forEach((a, i) => {
      const size = a.shape.reduce((x, y) => x * y, 1);
      const w = open(format, paths[i]!, a.shape, a.columns);
      writers.push(w);
      let count = 0;
      for (const block of blocks(a.data)) {
        if (count + block.length > size) throw new RangeError(`internal: more values than the shape [${a.shape.join(', ')}] of ${a.key} holds`);
        w.write(block);
        count += block.length;
      }
      if (count !== size) throw new RangeError(`internal: ${count} values for the shape [${a.shape.join(', ')}] of ${a.key}`);
    });
    for (const w of writers) w.commit();
  } catch (e) {
    for (const w of writers) w.abort();
    throw e;
  }
  return arrays.map((a, i) => ({ key: a.key, path: paths[i]!, shape: [...a.shape], dtype: 'float64' as const, ...(a.columns ? { columns: [...a.columns] } : {}) }));
}

/** The values of `data` as consecutive blocks (views of a Float64Array). */
function* blocks(data: ResultArray['data']): Iterable<Float64Array> {
  if (data instanceof Float64Array) {
    for (let i = 0; i < data.length; i += BLOCK) yield data.subarray(i, Math.min(i + BLOCK, data.length));
  } else if (Array.isArray(data)) {
    const a = data as readonly number[];
    for (let i = 0; i < a.length; i += BLOCK) yield Float64Array.from(a.slice(i, i + BLOCK));
  } else yield* data as Iterable<Float64Array>;
}

function open(format: ArrayFormat, path: string, shape: number[], columns?: string[]): FormatWriter {
  if (columns && columns.length !== (shape.at(-1) ?? 1)) throw new RangeError(`internal: ${columns.length} column names for rows of ${shape.at(-1)}`);
  if (format === 'npy') {
    const w = NpyWriter.create(path, shape);
    return { write: (v) => w.append(v), commit: () => w.commit(), abort: () => w.abort() };
  }
  return format === 'csv' ? csvWriter(path, shape, columns) : jsonWriter(path, shape);
}

/** Text written through a buffer of about 1 MB (one block's text), never the whole file's. */
function textFile(path: string): { put: (s: string) => void; flush: () => void; file: AtomicFile } {
  const file = AtomicFile.open(path);
  let parts: string[] = [], chars = 0;
  const flush = () => {
    if (parts.length) file.write(Buffer.from(parts.join(''), 'utf8'));
    parts = [];
    chars = 0;
  };
  return {
    file,
    flush,
    put: (s) => {
      parts.push(s);
      chars += s.length;
      if (chars >= 1 << 20) flush();
    },
  };
}

/**
 * A value as text: the shortest decimal that reads back to the same float64 (`-0` kept);
 * `nan`, `inf` and `-inf` in CSV (what numpy, pandas and `loadArray` read), null in JSON.
 * @example csvNumber(0.1) // '0.1'
 */
export function csvNumber(x: number): string {
  if (Number.isFinite(x)) return Object.is(x, -0) ? '-0' : String(x);
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}
const jsonNumber = (x: number) => (Number.isFinite(x) ? (Object.is(x, -0) ? '-0' : String(x)) : 'null');

/** CSV: one line per row of the last axis (a vector, or shape []: one value per line). */
function csvWriter(path: string, shape: number[], columns?: string[]): FormatWriter {
  const t = textFile(path);
  const row = shape.length >= 2 ? shape.at(-1)! : 1;
  if (columns) t.put(columns.join(',') + '\n');
  let col = 0;
  return {
    write(values) {
      let s = '';
      for (let i = 0; i < values.length; i++) {
        s += csvNumber(values[i]!);
        if (++col === row) {
          s += '\n';
          col = 0;
        } else s += ',';
      }
      t.put(s);
    },
    commit() {
      t.flush();
      t.file.commit();
    },
    abort: () => t.file.abort(),
  };
}

/** JSON: the nested arrays, brackets opened and closed from each value's flat index. */
function jsonWriter(path: string, shape: number[]): FormatWriter {
  const t = textFile(path);
  const size = shape.reduce((a, b) => a * b, 1);
  // sub[j]: the values of one sub-array from axis j on (sub[0] = all of them)
  const sub = shape.map((_, j) => shape.slice(j).reduce((a, b) => a * b, 1));
  let i = 0;
  return {
    write(values) {
      let s = '';
      for (let v = 0; v < values.length; v++, i++) {
        let open = 0, close = 0;
        for (let j = 0; j < sub.length; j++) {
          if (i % sub[j]! === 0) open++;
          if ((i + 1) % sub[j]! === 0) close++;
        }
        s += (i > 0 ? ',' : '') + '['.repeat(open) + jsonNumber(values[v]!) + ']'.repeat(close);
      }
      t.put(s);
    },
    commit() {
      if (size === 0) t.put(emptyJson(shape));
      t.put('\n');
      t.flush();
      t.file.commit();
    },
    abort: () => t.file.abort(),
  };
}

/** The JSON of an array without values: [] nested as far as its axes reach ([2, 0] → [[],[]]). */
function emptyJson(shape: number[]): string {
  if (shape.length === 0) return '[]';
  const [n, ...rest] = shape;
  return n === 0 ? '[]' : `[${Array(n).fill(emptyJson(rest)).join(',')}]`;
}
