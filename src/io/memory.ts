/**
 * One memory budget for every large allocation (issue 21, item 2). Before an array whose size
 * comes from the user (a parameter or data tensor, a Jacobian, a kernel and its working set) is
 * allocated, its size is compared with the budget, and a refusal names the size needed, the
 * budget and what to change — instead of a V8 out-of-memory crash or a machine swapping.
 *
 * The budget is `--max-memory` when given (`setMemoryBudget`), else half the memory the operating
 * system reports available (`os.freemem()`, MemAvailable on Linux, or the cgroup's limit if
 * lower) at the time of the check: half, because a run holds more than the arrays checked (copies,
 * buffers of the evaluation) and the machine is shared.
 * Float64Arrays live outside V8's heap, so its limit does not bound them; the JavaScript objects
 * a computation builds (graphs, sparse enclosures) are bounded by their own budgets (node counts,
 * stored entries).
 */
import { freemem } from 'node:os';

/**
 * Refused: an allocation larger than the memory budget, or a result too large to hold: size in
 * bytes and what to try instead. The CLI exits 1 with the message.
 * @example try { kernel(model, 6) } catch (e) { if (e instanceof MemoryError) console.error(e.message) } // names the --slice that fits
 */
export class MemoryError extends Error {}

/** The largest Jacobian or kernel held in memory at once (bytes). */
export const MAX_RESULT_BYTES = 4 * 1024 ** 3;

let override: number | null = null;
/** What the override is, when not --max-memory itself (a worker's share of the process's budget). */
let overrideSource: string | null = null;

/**
 * Set the budget in bytes (the CLI's `--max-memory`), or null for the available memory;
 * `source` names it in messages when it is not --max-memory (a worker's share).
 * @example setMemoryBudget(parseBytes('2G')) // every later check allows at most 2 GiB
 */
export function setMemoryBudget(bytes: number | null, source?: string): void {
  if (bytes !== null && !(Number.isFinite(bytes) && bytes > 0)) throw new RangeError(`a memory budget must be a positive number of bytes, got ${bytes}`);
  override = bytes;
  overrideSource = bytes === null ? null : (source ?? null);
}

/**
 * The budget now, in bytes: --max-memory (`setMemoryBudget`), else half the memory available
 * now, min(free memory, the cgroup's limit)/2.
 * @example setMemoryBudget(parseBytes('2G')); memoryBudget() // 2147483648
 */
export function memoryBudget(): number {
  if (override !== null) return override;
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  const avail = limit && limit > 0 && limit < freemem() ? limit : freemem();
  return Math.floor(avail / 2);
}

/** Where the budget comes from, for messages. */
export function budgetSource(): string {
  return override === null ? 'the default budget (half the memory available now)' : (overrideSource ?? 'the --max-memory budget');
}

/** Bytes as text: 1.5 GB, 12.0 MB, 3 kB (powers of 1024). @example fmtBytes(1.5 * 1024 ** 3) // '1.5 GB' */
export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return `${b} bytes`;
  if (b >= 1024 ** 4) return `${(b / 1024 ** 4).toFixed(1)} TB`;
  if (b >= 1024 ** 3) return `${(b / 1024 ** 3).toFixed(1)} GB`;
  if (b >= 1024 ** 2) return `${(b / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.ceil(b / 1024)} kB`;
}

/**
 * Parse a size such as 512M, 2G, 1.5GB or 1000000 (bytes) — the value of --max-memory.
 * @example parseBytes('2G') // 2147483648
 */
export function parseBytes(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?\s*$/.exec(s);
  if (!m) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = Number(m[1]) * mult;
  return Number.isFinite(v) && v > 0 ? v : null;
}

/**
 * The reason `bytes` more cannot be allocated, or null when they fit the budget.
 * `what` names the array ("param 'W' : [1000000000]"), `fix` what to change.
 */
export function overBudget(bytes: number, what: string, fix: string): string | null {
  const budget = memoryBudget();
  if (Number.isFinite(bytes) && bytes <= budget) return null;
  return `${what} needs ${fmtBytes(bytes)}, more than ${budgetSource()}, ${fmtBytes(budget)}: ${fix}`;
}

/**
 * The most one result may take (bytes): the budget (`memoryBudget`), and at most
 * MAX_RESULT_BYTES. The one limit every check of a result against memory uses (kernels,
 * Jacobians, tiles, limit kernels, predictions, trajectories, the hierarchy's state).
 * @example setMemoryBudget(parseBytes('1G')); resultLimit() // 1073741824
 */
export function resultLimit(): number {
  return Math.min(MAX_RESULT_BYTES, memoryBudget());
}

/**
 * Where a result's values go, and so what each costs in memory: `file` — held once as float64
 * and written in blocks (`--out`); `report` — also as the nested arrays of the report object;
 * `json` — also as the JSON text printed (up to 25 characters a value, and the text may be
 * copied once as it grows).
 */
export type ResultSink = 'file' | 'report' | 'json';
/**
 * Bytes a value of a result costs by where it goes (see `ResultSink`).
 * @example 4096 ** 2 * BYTES_PER_VALUE.json // ≈ 1.1e9: the NTK of 4096 outputs printed as JSON
 */
export const BYTES_PER_VALUE: Record<ResultSink, number> = { file: 8, report: 16, json: 16 + 2 * 25 };
/**
 * The longest string V8 makes (2^29 − 24 characters): a JSON text past it cannot be printed.
 * @example 8192 ** 2 * 25 > MAX_STRING_CHARS // true: K of 8192 outputs as JSON needs --out
 */
export const MAX_STRING_CHARS = 2 ** 29 - 24;

/**
 * Refuse, before computing it, a result of `values` float64 numbers (and `working` bytes of
 * buffers besides) that would not fit `resultLimit()` where it goes (`sink`): MemoryError naming
 * the size needed, the budget, and the option that fits — `toFile` (e.g. "write it with --out
 * K.npy") when the values alone would fit but not their report or JSON text, else `smaller`
 * (e.g. "--tiles 8 --out K.npy", "--slice 0"). `fileValues`: the values held when it goes to a
 * file instead, when fewer (a Jacobian written by blocks of rows holds one block).
 * @example ensureResult({ what: 'the NTK (4096 × 4096)', values: 4096 ** 2, sink: 'json', toFile: 'write it with --out K.npy', smaller: 'use --tiles 4 --out K.npy' })
 */
export function ensureResult(o: { what: string; values: number; sink: ResultSink; working?: number; toFile: string; smaller: string; fileValues?: number }): void {
  const budget = memoryBudget();
  const limit = Math.min(MAX_RESULT_BYTES, budget);
  const working = o.working ?? 0;
  const bytes = o.values * BYTES_PER_VALUE[o.sink] + working;
  const tooLong = o.sink === 'json' && o.values * 25 > MAX_STRING_CHARS;
  if (Number.isFinite(bytes) && bytes <= limit && !tooLong) return;
  const asFile = (o.fileValues ?? o.values) * BYTES_PER_VALUE.file + working;
  const fix = o.sink !== 'file' && asFile <= limit ? o.toFile : o.smaller;
  const how = o.sink === 'file' ? '' : o.sink === 'report' ? ' with its report' : ' with its JSON text';
  const where = limit === budget ? `${budgetSource()}, ${fmtBytes(limit)}` : `the ${fmtBytes(limit)} a result may take`;
  throw new MemoryError(
    tooLong && bytes <= limit
      ? `${o.what} has ${o.values.toExponential(3)} values: its JSON text would pass the ${MAX_STRING_CHARS} characters of a JavaScript string; ${fix}`
      : `${o.what} needs ${fmtBytes(bytes)}${how}${working ? ` (${fmtBytes(working)} of it buffers)` : ''}, more than ${where}; ${fix}`,
  );
}

/**
 * Throws MemoryError unless `bytes` fit the budget.
 * @example ensureMemory(8 * 1e9, 'the Jacobian (1000 × 1000000)', 'use --structure products')
 */
export function ensureMemory(bytes: number, what: string, fix: string): void {
  const why = overBudget(bytes, what, fix);
  if (why) throw new MemoryError(why);
}
