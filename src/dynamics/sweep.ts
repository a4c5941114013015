/**
 * Sweeps: the flow over a grid of (α, T, overridden dims/consts), with results that can be
 * resumed, and log-log slope fits (e.g. E against T/α for Corollary 2.2, E ≤ C·min(T/α, 1)).
 */
import { createHash } from 'node:crypto';
import { loadModel } from '../ir/load.ts';
import type { Model } from '../ir/model.ts';
import { flow, FlowError, type FlowMethod } from './flow.ts';

/** One grid point: α, T and the `--set` values (name → value). */
export interface GridPoint {
  alpha: number;
  T: number;
  set: Record<string, number>;
}

/** The result of one grid point: its coordinates and the flow's scalars. */
export interface SweepRow extends GridPoint {
  R0: number;
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
 * A stable key of a grid point, to match rows of an earlier, interrupted run. With a horizon
 * named after a const (`--T T`), T is not a grid axis and is left out.
 */
export function pointKey(p: GridPoint, namedHorizon = false): string {
  const set = Object.keys(p.set).sort().map((k) => `${k}=${p.set[k]}`).join(',');
  return `alpha=${p.alpha};${namedHorizon ? '' : `T=${p.T};`}${set}`;
}

export interface SlopeFit {
  /** d log y / d log x by least squares. */
  slope: number;
  /** Its standard error (null with fewer than 3 points). */
  stderr: number | null;
  intercept: number;
  /** Points used (positive, finite x and y). */
  n: number;
}

/**
 * Least-squares fit of log y = intercept + slope·log x over the points with x, y > 0.
 * @example fitLogLog([1, 10, 100], [2, 20, 200]).slope // 1
 */
export function fitLogLog(x: number[], y: number[]): SlopeFit | null {
  const pts = x.map((xi, i) => [xi, y[i]!] as const).filter(([a, b]) => a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b));
  const n = pts.length;
  if (n < 2) return null;
  const lx = pts.map(([a]) => Math.log(a)), ly = pts.map(([, b]) => Math.log(b));
  const mx = lx.reduce((s, v) => s + v, 0) / n, my = ly.reduce((s, v) => s + v, 0) / n;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (lx[i]! - mx) ** 2;
    sxy += (lx[i]! - mx) * (ly[i]! - my);
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let rss = 0;
  for (let i = 0; i < n; i++) rss += (ly[i]! - intercept - slope * lx[i]!) ** 2;
  const stderr = n > 2 ? Math.sqrt(rss / (n - 2) / sxx) : null;
  return { slope, stderr, intercept, n };
}

const COLUMNS: (keyof SweepRow)[] = ['alpha', 'T', 'R0', 'kappa', 'error', 'errorAccuracy', 'bound', 'sharpBound', 'chizatBound', 'weightChange', 'linWeightChange', 'loss', 'linLoss', 'seconds'];

/** Rows as CSV: a `# ntk sweep <fingerprint>` line, a header, one line per row (full precision). */
export function toCsv(rows: SweepRow[], setNames: string[], fingerprint: string): string {
  const head = [...setNames, ...COLUMNS];
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const lines = rows.map((r) => [...setNames.map((n) => cell(r.set[n])), ...COLUMNS.map((c) => cell(r[c]))].join(','));
  return `# ntk sweep ${fingerprint}\n${head.join(',')}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
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
 */
export function sweepFileText(path: string, rows: SweepRow[], setNames: string[], fingerprint: string): string {
  return path.endsWith('.json') ? JSON.stringify({ fingerprint, rows }, null, 1) + '\n' : toCsv(rows, setNames, fingerprint);
}

/**
 * Read back rows written by `toCsv`, if the fingerprint matches (same model file, options and
 * grid axes); returns null for a file of another sweep.
 */
export function fromCsv(text: string, setNames: string[], fingerprint: string): SweepRow[] | null {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== `# ntk sweep ${fingerprint}`) return null;
  const head = lines[1]?.split(',') ?? [];
  const expected = [...setNames, ...COLUMNS];
  if (head.join(',') !== expected.join(',')) return null;
  return lines.slice(2).map((line) => {
    const cells = line.split(',');
    const num = (i: number) => (cells[i] === '' ? null : Number(cells[i]));
    const set: Record<string, number> = {};
    setNames.forEach((n, i) => (set[n] = num(i)!));
    const row: Record<string, unknown> = { set };
    COLUMNS.forEach((c, i) => (row[c] = num(setNames.length + i)));
    row.warnings = [];
    return row as unknown as SweepRow;
  });
}

/**
 * A number given directly or by the name of a dim/const of the model (so that a known constant
 * can follow the grid: `--lip-dh b` in the tight example, where Lip(Dh) = b).
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
   * The flow's horizon as the name of a const of the model, instead of the grid's T: in
   * Theorem 1.3's example the model itself depends on T (a = 1/√T), so `--T T` keeps the two
   * equal while `--set T=10,100` varies them together.
   */
  horizon?: string;
}

/**
 * Run the flow at one grid point (the model is re-elaborated with the point's `--set` values).
 * Pure: the same inputs give the same row on any thread.
 */
export function sweepPoint(point: GridPoint, o: SweepOptions): SweepRow {
  const t0 = performance.now();
  const overrides = new Map(Object.entries({ ...(o.overrides ?? {}), ...point.set }));
  const model = loadModel(o.file, { overrides, seed: o.seed ?? 0 });
  const T = o.horizon === undefined ? point.T : constantOf(model, o.horizon)!;
  const r = flow(model, {
    alpha: point.alpha,
    T,
    ...(o.rtol === undefined ? {} : { rtol: o.rtol }),
    lipDh: constantOf(model, o.lipDh),
    lipH: constantOf(model, o.lipH),
    radius: constantOf(model, o.radius),
    method: o.method ?? 'auto',
    accuracy: o.accuracy ?? false,
    ...(o.maxSteps === undefined ? {} : { maxSteps: o.maxSteps }),
    ...(o.maxTime === undefined ? {} : { maxTime: o.maxTime }),
  });
  return {
    ...point,
    T,
    R0: r.R0,
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
    warnings: r.warnings,
  };
}
