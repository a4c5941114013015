/**
 * Sweeps: the flow over a grid of (α, T, overridden dims/consts), with results that can be
 * resumed, and log-log slope fits (e.g. E against T/α for Corollary 2.2, E ≤ C·min(T/α, 1)).
 */
import { createHash } from 'node:crypto';
import { loadModel } from '../ir/load.ts';
import type { Model } from '../ir/model.ts';
import { flow, FlowError, type FlowMethod } from './flow.ts';
import { fitLogLog, type LogLogFit } from '../math/fit.ts';
import { flowLipschitz } from './flow-lip.ts';

/** One grid point: α, T and the `--set` values (name → value). */
export interface GridPoint {
  alpha: number;
  T: number;
  set: Record<string, number>;
}

/** The result of one grid point: its coordinates and the flow's scalars. */
export interface SweepRow extends GridPoint {
  R0: number;
  /** The constants of the bounds at this point (given, or estimated as `ntk flow` does), null if unknown. */
  lipDh: number | null;
  lipH: number | null;
  kappa: number | null;
  error: number;
  errorAccuracy: number | null;
  /** Theorem 1.2: min(6κ√R0, √(8R0)). */
  bound: number | null;
  /** Theorem 1.2's sharper form from its proof: min(2κ + 3κ², 2)·√(2R0). */
  sharpBound: number | null;
  /** Proposition 1.1: T·Lip(h)²·κ·√R0. */
  chizatBound: number | null;
  weightChange: number;
  linWeightChange: number;
  loss: number;
  linLoss: number;
  seconds: number;
  /** The flow's warnings at this point (not kept in a CSV file: rows read back have none). */
  warnings: string[];
}

/**
 * The cartesian product of the axes, in a fixed order (sets outermost, then α, then T), so that
 * points sharing a model (the same `--set` values) are adjacent.
 * @example grid([1, 4], [10], { m: [64, 256] }).length // 4
 */
export function grid(alphas: number[], Ts: number[], sets: Record<string, number[]>): GridPoint[] {
  const names = Object.keys(sets);
  let combos: Record<string, number>[] = [{}];
  for (const name of names) combos = combos.flatMap((c) => sets[name]!.map((v) => ({ ...c, [name]: v })));
  return combos.flatMap((set) => alphas.flatMap((alpha) => Ts.map((T) => ({ alpha, T, set }))));
}

/**
 * One curve of a sweep: the rows that share the grid axes' values (and α, when both α and T vary,
 * so that the curve runs over T), in increasing T/α, with its own log-log fit of E against T/α.
 */
export interface SweepSeries {
  /** The legend's name: 'm = 64, α = 4'; 'E(T)' for a sweep with one curve. */
  name: string;
  set: Record<string, number>;
  /** The α of the curve, or null when α varies along it. */
  alpha: number | null;
  /** Indices into the rows, in increasing T/α. */
  rows: number[];
  /** log E against log(T/α) over the curve (Corollary 2.2's regime: slope 1); null with too few points. */
  fit: LogLogFit | null;
}

/**
 * The rows split into curves: by the values of the grid axes, and by α as well when both α and
 * T take several values (each curve then runs over T at one α), each with its fit.
 * @example sweepSeries(rows, ['m']).map((s) => s.name) // ['m = 64', 'm = 256']
 */
export function sweepSeries(rows: SweepRow[], setNames: string[]): SweepSeries[] {
  const byAlpha = new Set(rows.map((r) => r.alpha)).size > 1 && new Set(rows.map((r) => r.T)).size > 1;
  const curves = new Map<string, SweepSeries>();
  rows.forEach((r, i) => {
    const parts = [...setNames.map((n) => `${n} = ${r.set[n]}`), ...(byAlpha ? [`α = ${r.alpha}`] : [])];
    const name = parts.length ? parts.join(', ') : 'E(T)';
    let c = curves.get(name);
    if (!c) curves.set(name, (c = { name, set: Object.fromEntries(setNames.map((n) => [n, r.set[n]!])), alpha: byAlpha ? r.alpha : null, rows: [], fit: null }));
    c.rows.push(i);
  });
  return [...curves.values()].map((c) => {
    const idx = [...c.rows].sort((a, b) => rows[a]!.T / rows[a]!.alpha - rows[b]!.T / rows[b]!.alpha);
    return { ...c, rows: idx, fit: fitLogLog(idx.map((i) => rows[i]!.T / rows[i]!.alpha), idx.map((i) => rows[i]!.error)) };
  });
}

/**
 * A stable key of a grid point, to match rows of an earlier, interrupted run. With a horizon
 * named after a const (`--T T`), T is not a grid axis and is left out.
 * @example pointKey({ alpha: 4, T: 10, set: { m: 64 } }) // 'alpha=4;T=10;m=64'
 */
export function pointKey(p: GridPoint, namedHorizon = false): string {
  const set = Object.keys(p.set).sort().map((k) => `${k}=${p.set[k]}`).join(',');
  return `alpha=${p.alpha};${namedHorizon ? '' : `T=${p.T};`}${set}`;
}

/**
 * The result columns of a sweep's CSV, in order, with what each holds and its unit (written as
 * `# ` comment lines above the header, so that a file read months later explains itself).
 */
const COLUMNS: [keyof SweepRow, string][] = [
  ['alpha', 'the scale α of the model α·h (dimensionless)'],
  ['T', 'the horizon of the flow (time, the units of t in dw/dt = −(1/α)·Dhᵀ∇R)'],
  ['R0', 'R(α·h(w0)), the loss at the start (units of the loss)'],
  ['lipDh', 'Lip(Dh) on the ball B(w0, ρ) used by the bounds, given or estimated as ntk flow does (units of the outputs per weight²); NA when unknown'],
  ['lipH', 'Lip(h) on the same ball (units of the outputs per weight); NA when unknown'],
  ['kappa', 'κ = (T/α)·Lip(Dh)·√R0 (dimensionless); NA when Lip(Dh) is unknown'],
  ['error', 'E(T) = ‖α·h(w(T)) − α·h̄(w̄(T))‖ (units of the outputs)'],
  ['errorAccuracy', "E(T)'s estimated absolute accuracy (units of the outputs); NA when not estimated"],
  ['bound', 'Theorem 1.2: min(6κ√R0, √(8R0)) (units of the outputs); NA when not given'],
  ['sharpBound', "Theorem 1.2's proof: min(2κ + 3κ², 2)·√(2R0) (units of the outputs); NA when not given"],
  ['chizatBound', 'Proposition 1.1: T·Lip(h)²·κ·√R0 (units of the outputs); NA when not given'],
  ['weightChange', '‖w(T) − w0‖ (units of the weights)'],
  ['linWeightChange', '‖w̄(T) − w0‖ (units of the weights)'],
  ['loss', 'R(α·h(w(T))) (units of the loss)'],
  ['linLoss', 'R(α·h̄(w̄(T))) (units of the loss)'],
  ['seconds', 'wall time of the point (s)'],
];

/** The explicit missing value of a CSV cell (read as missing by pandas, R and numpy's genfromtxt). */
const NA = 'NA';

/**
 * The CSV header: the grid axes (`--set` names), then the result columns. An axis whose name is
 * also a result column (a model's const `T` or `R0`) is written `set.T`, so that no two columns
 * share a name.
 * @example csvHeader(['m', 'T']) // ['m', 'set.T', 'alpha', 'T', 'R0', …]
 */
export function csvHeader(setNames: string[]): string[] {
  const results = new Set<string>(COLUMNS.map(([c]) => c));
  return [...setNames.map((n) => (results.has(n) ? `set.${n}` : n)), ...COLUMNS.map(([c]) => c)];
}

/**
 * Rows as CSV: a `# ntk sweep <fingerprint>` line, `# NAME: meaning (unit)` lines, a header
 * (`csvHeader`), one line per row at full precision, `NA` for a value that is not known.
 * `fromCsv` reads it back.
 * @example toCsv(rows, ['m'], sweepFingerprint(readFileSync('m.ntk'), { file: 'm.ntk' }, ['m']))
 */
export function toCsv(rows: SweepRow[], setNames: string[], fingerprint: string): string {
  const cell = (v: unknown) => (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)) ? NA : String(v));
  const head = csvHeader(setNames);
  const notes = [...setNames.map((n, i) => `# ${head[i]}: the value of the model's dim or const ${n} (--set)`), ...COLUMNS.map(([c, what]) => `# ${c}: ${what}`)];
  const lines = rows.map((r) => [...setNames.map((n) => cell(r.set[n])), ...COLUMNS.map(([c]) => cell(r[c]))].join(','));
  return `# ntk sweep ${fingerprint}\n${notes.join('\n')}\n${head.join(',')}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/**
 * Identifies a sweep's configuration (not its grid values): the model file's bytes, the shared
 * options but the file's path, the names of the grid axes; 16 hex digits of a sha256. A rerun
 * with the same fingerprint resumes an `--out` file, and a cluster's merge writes it too.
 * @example sweepFingerprint(readFileSync(file), shared, ['m'])
 */
export function sweepFingerprint(model: Uint8Array, shared: SweepOptions, axisNames: string[]): string {
  const h = createHash('sha256');
  h.update(model);
  h.update(JSON.stringify({ ...shared, file: undefined, axes: [...axisNames].sort() }));
  return h.digest('hex').slice(0, 16);
}

/**
 * The text of a sweep's results file: `toCsv` for a .csv path, else JSON
 * `{ fingerprint, rows }` (one space of indent): what `ntk sweep --out` and the merge of a
 * cluster's shards write.
 * @example sweepFileText('r.json', rows, [], 'ab12…').startsWith('{') // true
 */
export function sweepFileText(path: string, rows: SweepRow[], setNames: string[], fingerprint: string): string {
  return path.endsWith('.json') ? JSON.stringify({ fingerprint, rows }, null, 1) + '\n' : toCsv(rows, setNames, fingerprint);
}

/**
 * Read back rows written by `toCsv`, if the fingerprint matches (same model file, options and
 * grid axes); returns null for a file of another sweep. `fromCsv(toCsv(rows, s, f), s, f)` gives
 * the rows back, bit for bit, without their warnings.
 * @example fromCsv(readFileSync('r.csv', 'utf8'), ['m'], fingerprint)?.length
 */
export function fromCsv(text: string, setNames: string[], fingerprint: string): SweepRow[] | null {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== `# ntk sweep ${fingerprint}`) return null;
  const body = lines.filter((l) => !l.startsWith('#'));
  if (body[0] !== csvHeader(setNames).join(',')) return null;
  return body.slice(1).map((line) => {
    const cells = line.split(',');
    const num = (i: number) => (cells[i] === NA || cells[i] === '' ? null : Number(cells[i]));
    const set: Record<string, number> = {};
    setNames.forEach((n, i) => (set[n] = num(i)!));
    const row: Record<string, unknown> = { set };
    COLUMNS.forEach(([c], i) => (row[c] = num(setNames.length + i)));
    row.warnings = [];
    return row as unknown as SweepRow;
  });
}

/**
 * A number given directly or by the name of a dim/const of the model (so that a known constant
 * can follow the grid: `--lip-dh b` in the tight example, where Lip(Dh) = b). null and
 * undefined stay null; an unknown name throws `FlowError`.
 * @example constantOf(parseModel('const b = 0.5\nparam w = 0\nmodel h = b*w^2'), 'b') // 0.5
 */
export function constantOf(model: Model, v: number | string | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') return v;
  const c = model.constants.get(v);
  if (c === undefined) throw new FlowError(`'${v}' is neither a number nor a dim or const of the model`);
  return c;
}

/** What every point of a sweep shares. */
export interface SweepOptions {
  file: string;
  seed?: number;
  /** Fixed `--set` values, applied under the grid's own. */
  overrides?: Record<string, number>;
  rtol?: number;
  /** A number, or the name of one of the model's consts (e.g. `b`, which varies over the grid). */
  lipDh?: number | string | null;
  lipH?: number | string | null;
  radius?: number | string | null;
  method?: FlowMethod;
  /** The solver's limits at each point: attempted steps per solve, wall-clock seconds (`FlowOptions`). */
  maxSteps?: number;
  maxTime?: number;
  /** Estimate the accuracy of each E(T) (a second solve; default false in sweeps). */
  accuracy?: boolean;
  /**
   * Without lipDh and lipH: estimate them at each point as `ntk flow` does (`flowLipschitz`, on
   * the ball of Prop. 3.1 for that point's α and T); default true.
   */
  lip?: boolean;
  /**
   * The flow's horizon as the name of a const of the model, instead of the grid's T: in
   * Theorem 1.3's example the model itself depends on T (a = 1/√T), so `--T T` keeps the two
   * equal while `--set T=10,100` varies them together.
   */
  horizon?: string;
}

/**
 * Run the flow at one grid point (the model is re-elaborated with the point's `--set` values).
 * Pure: the same inputs give the same row on any thread. The row's error is the flow's
 * E(T) = ‖α h(w(T)) − α h̄(w̄(T))‖ next to the bounds of Theorem 1.2 and Proposition 1.1.
 * @example sweepPoint({ alpha: 4, T: 10, set: { m: 64 } }, { file: 'mlp.ntk', seed: 1 }).error
 */
export function sweepPoint(point: GridPoint, o: SweepOptions): SweepRow {
  const t0 = performance.now();
  const overrides = new Map(Object.entries({ ...(o.overrides ?? {}), ...point.set }));
  const model = loadModel(o.file, { overrides, seed: o.seed ?? 0 });
  const T = o.horizon === undefined ? point.T : constantOf(model, o.horizon)!;
  const lip = flowLipschitz(model, {
    alpha: point.alpha, T, lipDh: constantOf(model, o.lipDh), lipH: constantOf(model, o.lipH), radius: constantOf(model, o.radius),
    lip: o.lip !== false, overrides,
  });
  const r = flow(model, {
    alpha: point.alpha,
    T,
    ...(o.rtol === undefined ? {} : { rtol: o.rtol }),
    lipDh: lip.lipDh,
    lipH: lip.lipH,
    radius: lip.radius,
    method: o.method ?? 'auto',
    accuracy: o.accuracy ?? false,
    ...(o.maxSteps === undefined ? {} : { maxSteps: o.maxSteps }),
    ...(o.maxTime === undefined ? {} : { maxTime: o.maxTime }),
  });
  return {
    ...point,
    T,
    R0: r.R0,
    lipDh: r.lipDh,
    lipH: r.lipH,
    kappa: r.kappa,
    error: r.error,
    errorAccuracy: r.errorAccuracy,
    bound: r.bound,
    sharpBound: r.sharpBound,
    chizatBound: r.chizatBound,
    weightChange: r.weightChange,
    linWeightChange: r.linWeightChange,
    loss: r.loss,
    linLoss: r.linLoss,
    seconds: (performance.now() - t0) / 1000,
    warnings: lip.skipped ? [...r.warnings, lip.skipped] : r.warnings,
  };
}
