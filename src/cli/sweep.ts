/**
 * `ntk sweep FILE --alpha 1,4,16 --T 1,10,100 --set m=64,256,1024`: the flow over a grid, grid
 * points in parallel on worker threads, results rewritten atomically after every point so that
 * an interrupted sweep resumes from what it wrote (`--out`), log-log slope fits and a plot.
 *
 * Workers run this same bundled file (dist/ntk.cjs) in worker mode (see entry.ts); when the CLI
 * runs from TypeScript sources (tests), points run in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { bundleFile, startWorker, threads } from './bundle.ts';
import type { Worker } from 'node:worker_threads';
import { capNativeThreads } from '../runtime/backend-native.ts';
import { fitLogLog, fromCsv, grid, pointKey, sweepFileText, sweepFingerprint, sweepPoint, type GridPoint, type SlopeFit, type SweepOptions, type SweepRow } from '../dynamics/sweep.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { displayWidth, num, padStart, progress } from './format.ts';

export class SweepUsageError extends Error {}

export interface SweepCliOptions {
  file: string;
  alphas: number[];
  Ts: number[];
  /** Grid axes from `--set NAME=v1,v2,…` (several values). */
  axes: Record<string, number[]>;
  shared: SweepOptions;
  workers: number;
  out: string | null;
  fresh: boolean;
  onRow?: (done: number, total: number) => void;
}

export interface SweepOutcome {
  rows: SweepRow[];
  /** E against T/α over all rows (Corollary 2.2's regime has slope 1). */
  fitTime: SlopeFit | null;
  /** E against κ where κ is known (Theorem 1.2/1.3 say E ~ κ√R0 for κ ≤ 1). */
  fitKappa: SlopeFit | null;
  resumed: number;
}

/** Identifies a sweep's configuration (not its grid values), so that a rerun can resume it. */
function fingerprint(o: SweepCliOptions): string {
  return sweepFingerprint(readFileSync(o.file), o.shared, Object.keys(o.axes));
}

function readPrevious(o: SweepCliOptions, fp: string): SweepRow[] {
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
    throw new SweepUsageError(`'${o.out}' holds results of another sweep (other model, options or axes): use --fresh to overwrite it, or another --out`);
  return rows;
}

function write(o: SweepCliOptions, rows: SweepRow[], fp: string) {
  if (!o.out) return;
  writeFileAtomic(o.out, sweepFileText(o.out, rows, Object.keys(o.axes), fp));
}

/** Run the grid; resumes rows already in `--out`. */
export async function runSweep(o: SweepCliOptions): Promise<SweepOutcome> {
  const named = o.shared.horizon !== undefined;
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
  if (!self || o.workers <= 1 || todo.length <= 1) {
    for (const p of todo) record(sweepPoint(p, o.shared));
  } else {
    await inWorkers(self, todo, o.shared, Math.min(o.workers, todo.length), record);
  }
  const rows = sorted();
  const fitTime = fitLogLog(rows.map((r) => r.T / r.alpha), rows.map((r) => r.error));
  const withKappa = rows.filter((r) => r.kappa !== null);
  const fitKappa = withKappa.length ? fitLogLog(withKappa.map((r) => r.kappa!), withKappa.map((r) => r.error)) : null;
  return { rows, fitTime, fitKappa, resumed: previous.length };
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
      const w = startWorker(script, 'sweep', { shared });
      workers.push(w);
      running++;
      w.on('message', (m: { row?: SweepRow; error?: string }) => {
        if (m.error !== undefined) {
          failed = true;
          workers.forEach((x) => void x.terminate());
          reject(new Error(m.error));
          return;
        }
        record(m.row!);
        feed(w);
      });
      w.on('error', (e) => {
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
      parentPort!.postMessage({ error: `at α = ${p.alpha}, T = ${p.T}${Object.keys(p.set).length ? `, ${JSON.stringify(p.set)}` : ''}: ${(e as Error).message}` });
    }
  });
}

/** The default number of workers: one per core, at least 1. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

/** A readable table of the rows and the fits. */
export function formatSweep(outcome: SweepOutcome, setNames: string[]): string {
  // R0 = R(α·h(w0)) changes with α unless h(w0) = 0; shown unless it is itself a grid axis.
  const withR0 = !setNames.includes('R0');
  const head = [...setNames, 'α', 'T', 'T/α', ...(withR0 ? ['R0'] : []), 'E(T)', 'Thm 1.2', 'sharp', 'κ', '‖Δw‖', 's'];
  const rows = outcome.rows.map((r) => [
    ...setNames.map((n) => num(r.set[n]!)),
    num(r.alpha), num(r.T), num(r.T / r.alpha), ...(withR0 ? [num(r.R0)] : []), num(r.error),
    r.bound === null ? '–' : num(r.bound), r.sharpBound === null ? '–' : num(r.sharpBound), r.kappa === null ? '–' : num(r.kappa),
    num(r.weightChange), r.seconds.toFixed(2),
  ]);
  const width = head.map((h, j) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[j]!))));
  const line = (cells: string[]) => '  ' + cells.map((c, j) => padStart(c, width[j]!)).join('  ');
  const fit = (name: string, f: SlopeFit | null) =>
    f === null ? `  ${name}: not enough points` : `  ${name}: slope ${f.slope.toFixed(3)}${f.stderr === null ? '' : ` ± ${f.stderr.toFixed(3)}`} over ${f.n} points`;
  return [line(head), ...rows.map(line), '', fit('log E against log(T/α)', outcome.fitTime), fit('log E against log κ', outcome.fitKappa)].join('\n');
}

export { progress };
