/**
 * The study of `ntk sweep FILE --alpha 1,4,16 --T 1,10,100 --set m=64,256,1024`: the flow over a
 * grid, grid points in parallel on worker threads, results rewritten atomically after every
 * point so that an interrupted sweep resumes from what it wrote (`out`), and log-log slope fits.
 *
 * Workers run the bundled file (dist/ntk.cjs) in worker mode (`threads.ts`, the CLI's entry.ts);
 * from the TypeScript sources (tests, scripts), points run in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { bundleFile, startWorker, threads } from './threads.ts';
import type { Worker } from 'node:worker_threads';
import { capNativeThreads } from '../runtime/backend-native.ts';
import { checkFlowStart, ensureFlowMemory, FlowError } from '../dynamics/flow.ts';
import { MemoryError } from '../io/memory.ts';
import { NtkError, type Diagnostic } from '../parser/diagnostics.ts';
import { constantOf, fromCsv, grid, sweepSeries, type SweepSeries, pointKey, sweepFileText, sweepFingerprint, sweepPoint, type GridPoint, type SweepOptions, type SweepRow } from '../dynamics/sweep.ts';
import { fitLogLog, type LogLogFit } from '../math/fit.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { OptionError, outputCount } from './common.ts';
import { loadModel } from '../ir/load.ts';

/** Options of `runSweep`: the model file, the grid (α, T and `--set` axes), the flow's shared options, workers, and the file to resume from. */
export interface SweepStudyOptions {
  file: string;
  alphas: number[];
  Ts: number[];
  /** Grid axes from `--set NAME=v1,v2,…` (several values). */
  axes: Record<string, number[]>;
  shared: SweepOptions;
  /** Worker threads (default: one per core, `defaultWorkers`). */
  workers?: number;
  /** A .csv or .json file rewritten after every point; a rerun resumes from it (default none). */
  out?: string | null;
  /** Ignore (and overwrite) an existing `out`. */
  fresh?: boolean;
  onRow?: (done: number, total: number) => void;
}

/** What `runSweep` returns (the report of `ntk sweep --json`): the rows and the log-log slope fits. */
export interface SweepOutcome {
  rows: SweepRow[];
  /** E against T/α over all rows (Corollary 2.2's regime has slope 1). */
  fitTime: LogLogFit | null;
  /** E against κ where κ is known (Theorem 1.2/1.3 say E ~ κ√R0 for κ ≤ 1). */
  fitKappa: LogLogFit | null;
  /** Why `fitKappa` is null: 'κ unknown' (no Lip(Dh)), or too few points. */
  fitKappaNote: string | null;
  /** The curves of the sweep (by grid axes, and by α when α and T both vary), each with its fit. */
  series: SweepSeries[];
  resumed: number;
}

/** Identifies a sweep's configuration (not its grid values), so that a rerun can resume it. */
function fingerprint(o: SweepStudyOptions): string {
  return sweepFingerprint(readFileSync(o.file), o.shared, Object.keys(o.axes));
}

function readPrevious(o: SweepStudyOptions, fp: string): SweepRow[] {
  if (!o.out || o.fresh || !existsSync(o.out)) return [];
  const text = readFileSync(o.out, 'utf8');
  const names = Object.keys(o.axes);
  const rows = o.out.endsWith('.json')
    ? (() => {
        try {
          const j = JSON.parse(text) as { fingerprint?: string; rows?: SweepRow[] };
          return j.fingerprint === fp ? j.rows ?? [] : null;
        } catch {
          return null;
        }
      })()
    : fromCsv(text, names, fp);
  if (rows === null)
    throw new OptionError(`'${o.out}' holds results of another sweep (other model, options or axes): use --fresh to overwrite it, or another --out`);
  return rows;
}

function write(o: SweepStudyOptions, rows: SweepRow[], fp: string) {
  if (!o.out) return;
  writeFileAtomic(o.out, sweepFileText(o.out, rows, Object.keys(o.axes), fp));
}

/**
 * Run the grid; resumes rows already in `out`. The model is elaborated once with the first grid
 * values before any worker starts, so that an error in it is reported once.
 * @example const r = await runSweep({ file: 'examples/converse.ntk', alphas: [1, 4], Ts: [10], axes: {}, shared: { file: 'examples/converse.ntk' }, workers: 1, out: null, fresh: false });
 */
export async function runSweep(o: SweepStudyOptions): Promise<SweepOutcome> {
  const first = Object.fromEntries(Object.entries(o.axes).map(([k, v]) => [k, v[0]!]));
  const model = loadModel(o.file, { overrides: new Map(Object.entries({ ...(o.shared.overrides ?? {}), ...first })), seed: o.shared.seed ?? 0 });
  const named = o.shared.horizon !== undefined;
  // What every point needs (a loss; α, T and R0 finite at the first point) is checked once here,
  // naming the file, rather than at each point on a worker.
  try {
    checkFlowStart(model, o.alphas[0]!, named ? constantOf(model, o.shared.horizon)! : o.Ts[0]!);
  } catch (e) {
    if (e instanceof FlowError) throw new FlowError(`${o.file}: ${e.message}`);
    throw e;
  }
  const key = (p: GridPoint) => pointKey(p, named);
  const points = grid(o.alphas, named ? [NaN] : o.Ts, o.axes);
  const fp = fingerprint(o);
  const previous = readPrevious(o, fp);
  const byKey = new Map(previous.map((r) => [key(r), r]));
  const todo = points.filter((p) => !byKey.has(key(p)));
  const order = new Map(points.map((p, i) => [key(p), i]));
  const sorted = () => [...byKey.values()].filter((r) => order.has(key(r))).sort((a, b) => order.get(key(a))! - order.get(key(b))!);
  let done = points.length - todo.length;
  const record = (row: SweepRow) => {
    byKey.set(key(row), row);
    done++;
    write(o, sorted(), fp);
    o.onRow?.(done, points.length);
  };

  const self = bundleFile();
  const workers = o.workers ?? defaultWorkers();
  // the points' flows run at once, one per worker (sized at the first point)
  ensureFlowMemory(outputCount(model), model.paramCount, model.loss?.kind === 'square', self && todo.length > 1 ? Math.max(1, Math.min(workers, todo.length)) : 1, true);
  if (!self || workers <= 1 || todo.length <= 1) {
    for (const p of todo) record(sweepPoint(p, o.shared));
  } else {
    await inWorkers(self, todo, o.shared, Math.min(workers, todo.length), record);
  }
  const rows = sorted();
  const fitTime = fitLogLog(rows.map((r) => r.T / r.alpha), rows.map((r) => r.error));
  const withKappa = rows.filter((r) => r.kappa !== null);
  const fitKappa = fitLogLog(withKappa.map((r) => r.kappa!), withKappa.map((r) => r.error));
  const fitKappaNote = fitKappa
    ? null
    : withKappa.length === 0
      ? 'κ is unknown at every point: give --lip-dh (a number or a const of the model), or let the sweep estimate Lip(Dh) on a model small enough'
      : `too few points with κ known and E > 0 (${withKappa.length})`;
  const axisNames = Object.keys(o.axes).filter((n) => n !== o.shared.horizon);
  return { rows, fitTime, fitKappa, fitKappaNote, series: sweepSeries(rows, axisNames), resumed: previous.length };
}

/**
 * A point's failure as a worker posts it: the message (with the point), and the kind of error,
 * so that the main thread rethrows the same kind — a fault of the model or of the flow stays an
 * exit-1 error with its message, not an internal error.
 */
interface PointFailure {
  error?: string;
  kind?: 'flow' | 'memory' | 'model' | 'internal';
  diagnostics?: Diagnostic[];
}

function pointError(m: PointFailure): Error {
  switch (m.kind) {
    case 'flow': return new FlowError(m.error);
    case 'memory': return new MemoryError(m.error);
    case 'model': return new NtkError(m.diagnostics!);
    default: return new Error(m.error);
  }
}

/** A pool of worker threads, each computing one point at a time. */
function inWorkers(script: string, todo: GridPoint[], shared: SweepOptions, n: number, record: (r: SweepRow) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0, running = 0, failed = false;
    const workers: Worker[] = [];
    const feed = (w: Worker) => {
      if (failed) return;
      if (next >= todo.length) {
        void w.terminate();
        if (--running === 0) resolve();
        return;
      }
      w.postMessage(todo[next++]);
    };
    for (let i = 0; i < n; i++) {
      // each worker its share of the budget the check above was against
      const w = startWorker(script, 'sweep', { shared }, { parts: n, among: `${n} workers` });
      workers.push(w);
      running++;
      w.on('message', (m: { row?: SweepRow } & PointFailure) => {
        if (m.error !== undefined) {
          failed = true;
          workers.forEach((x) => void x.terminate());
          reject(pointError(m));
          return;
        }
        record(m.row!);
        feed(w);
      });
      w.on('error', (e: Error) => {
        failed = true;
        workers.forEach((x) => void x.terminate());
        reject(e);
      });
      feed(w);
    }
  });
}

/** The worker side: compute the points the main thread sends. */
export function sweepWorker(): void {
  const { workerData, parentPort } = threads();
  const { shared } = workerData as { shared: SweepOptions };
  capNativeThreads(1); // one BLAS thread per worker: the workers already fill the cores
  parentPort!.on('message', (p: GridPoint) => {
    try {
      parentPort!.postMessage({ row: sweepPoint(p, shared) });
    } catch (e) {
      const failure: PointFailure = {
        error: `at α = ${p.alpha}, T = ${p.T}${Object.keys(p.set).length ? `, ${JSON.stringify(p.set)}` : ''}: ${(e as Error).message}`,
        kind: e instanceof FlowError ? 'flow' : e instanceof MemoryError ? 'memory' : e instanceof NtkError ? 'model' : 'internal',
        ...(e instanceof NtkError ? { diagnostics: e.diagnostics } : {}),
      };
      parentPort!.postMessage(failure);
    }
  });
}

/**
 * The default number of workers: one per core, at least 1.
 * @example runSweep({ ..., workers: defaultWorkers() })
 */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}
