/**
 * `ntk limit` (the NNGP and NTK of the infinite-width limit) and `ntk predict` (the trained
 * infinite network's predictions, or the finite-width ensemble). Parsing and formatting only:
 * the work is `limitKernels`, `gpPredict` and `ensemblePredict` of `src/index.ts`.
 */
import { Option, type Command } from 'commander';
import {
  ensemblePredict, gpPredict, limitKernelsDense, limitScaling, limitScalingPlotSpec, loadModel, predictionPlotSpec, squareTargets, parseRates, commonRate,
  limitReport, checkOut, guardLimit, guardPredict, predictionFiles,
  type GpPrediction, type LimitFileReport, type Model,
} from '../index.ts';
import { matrix, num, progress, table, written } from './format.ts';
import { intOption, parseSet } from './options.ts';

/** A usage error of these commands: exit 2 (main.ts maps it). */
export class LimitUsageError extends Error {}

interface Common {
  json?: boolean;
  set: string[];
  seed?: string;
}
interface LimitCli extends Common {
  width?: string;
  latex?: boolean;
  out?: string;
  tol?: string;
}
interface PredictCli extends LimitCli {
  T?: string;
  kernel?: 'ntk' | 'nngp';
  diag?: boolean;
  ridge?: string;
  seeds?: string;
  plot?: string;
  lr?: string;
}

/** Writes s and a newline (separately: a kernel's JSON may be 100 MB, not to be copied for one byte). */
const out = (s: string): void => {
  process.stdout.write(s);
  if (!s.endsWith('\n')) process.stdout.write('\n');
};

function widths(o: LimitCli): string[] {
  if (!o.width) throw new LimitUsageError('--width: name the width dim(s) that go to infinity, e.g. --width m (or --width m,m2)');
  const ws = o.width.split(',').map((s) => s.trim()).filter(Boolean);
  if (ws.length === 0) throw new LimitUsageError(`--width ${o.width}: expected dim names, e.g. --width m`);
  return ws;
}

function tolOf(o: LimitCli): number {
  if (o.tol === undefined) return 1e-12;
  const t = Number(o.tol);
  if (!(t > 0 && t < 1)) throw new LimitUsageError(`--tol ${o.tol}: expected a number in (0, 1)`);
  return t;
}

/** A kernel's corners as `matrix` prints them: only the entries shown are read (n may be thousands). */
function mat(M: number[][] | null | undefined): string {
  if (!M) return 'null';
  const rows = M.length, cols = M[0]?.length ?? 0;
  const shown = (n: number) => (n <= 8 ? [...Array(n).keys()] : [0, 1, 2, 3, n - 4, n - 3, n - 2, n - 1]);
  const cells: Record<number, number> & { length: number } = { length: rows * cols };
  for (const r of shown(rows)) for (const c of shown(cols)) cells[r * cols + c] = M[r]![c]!;
  return matrix(cells, rows, cols);
}
const growth = (e: number | null) => (e === null ? 'identically 0' : e === 0 ? 'finite (m^0)' : `grows like m^${e}`);

function limitJson(r: LimitFileReport, o: LimitCli) {
  const { latex, recursion, ...rest } = r;
  return { ...rest, recursion: o.latex ? latex : recursion };
}

/** The recursion's LaTeX lines (`lhs &= rhs`) as one aligned block, as `derive --latex` prints. */
const latexBlock = (lines: string[]) => `\\begin{aligned}\n${lines.map((l) => `  ${l}`).join(' \\\\\n')}\n\\end{aligned}`;

/** `ntk limit FILE --width m`: the NNGP and NTK of the infinite-width limit. */
export function cmdLimit(file: string, o: LimitCli) {
  const ws = widths(o);
  const tol = tolOf(o);
  if (o.out) checkOut('limit', o.out);
  const overrides = parseSet(o.set);
  const model = loadModel(file, { overrides, seed: intOption('--seed', o.seed, 0, 0) });
  const bar = progress('limit', o.json !== true);
  bar.status(`the NNGP and NTK recursions as ${ws.join(', ')} → ∞ (Gaussian expectations per layer and pair of inputs)`);
  const r = limitReport(model, { width: ws, overrides, tol, out: o.out ?? null, json: o.json === true, onProgress: (d, t) => bar.update(d, t, 'the recursions, node by node') });
  bar.done();
  if (o.json) return out(JSON.stringify(limitJson(r, o)));
  const rows: [string, string][] = [
    ['model', `${model.outputName}: ${r.n} input${r.n > 1 ? 's' : ''} × ${r.outputs} output${r.outputs > 1 ? 's' : ''}${r.nTest ? `, ${r.nTest} test inputs` : ''}`],
    ['width', `${ws.join(', ')} → ∞`],
    ['NNGP 𝒦', growth(r.nngpGrowth)],
    ['NTK Θ', r.ntkNote ?? growth(r.ntkGrowth)],
    ['accuracy', `${num(r.accuracy, 2)} (largest estimated absolute error of an entry)`],
  ];
  for (const m of r.method) rows.push([`  ${m.pair}`, m.method === 'closed' ? 'closed form' : `quadrature, order ${m.order}, accuracy ${num(m.accuracy, 2)}`]);
  if (r.files) rows.push(...written(r.files));
  out(table(rows));
  out(o.latex ? `\nrecursion (LaTeX):\n${latexBlock(r.latex)}` : `\nrecursion:\n  ${r.recursion.join('\n  ')}`);
  // with --out the kernels are in the files: the summary only
  if (r.files) return;
  out(`\nNNGP 𝒦 (train × train):\n${mat(r.nngp)}\n\nNTK Θ (train × train):\n${mat(r.ntk)}`);
  if (r.nTest) out(`\nNNGP 𝒦 (test × train):\n${mat(r.nngpCross)}\n\nNTK Θ (test × train):\n${mat(r.ntkCross)}`);
}

function timeOf(o: PredictCli): number {
  if (o.T === undefined) throw new LimitUsageError('--T: the training time, a number ≥ 0 or inf');
  if (o.T === 'inf' || o.T === 'Infinity') return Infinity;
  const t = Number(o.T);
  if (!(t >= 0) || !Number.isFinite(t)) throw new LimitUsageError(`--T ${o.T}: expected a number ≥ 0 or inf`);
  return t;
}

/** `ntk predict FILE --width m --T t`: mean and covariance at the test inputs. */
export async function cmdPredict(file: string, o: PredictCli) {
  const t = timeOf(o);
  const overrides = parseSet(o.set);
  const ridge = o.ridge === undefined ? 0 : Number(o.ridge);
  if (!(ridge >= 0) || !Number.isFinite(ridge)) throw new LimitUsageError(`--ridge ${o.ridge}: expected a number ≥ 0`);
  if (o.seeds !== undefined && o.width !== undefined) throw new LimitUsageError('--seeds gives the finite-width ensemble: drop --width (or drop --seeds for the infinite-width prediction)');
  if (o.out) checkOut('predict', o.out);
  const model = loadModel(file, { overrides, seed: intOption('--seed', o.seed, 0, 0) });
  squareTargets(model);
  const seedCount = o.seeds === undefined ? 0 : Number(o.seeds);
  guardPredict(model, { diag: o.diag === true, seeds: Number.isInteger(seedCount) ? seedCount : 0 }, { out: o.out ?? null, json: o.json === true });
  // --lr η (every parameter) or W=η1,v=η2 (the others frozen): the flow dw/dt = −H∇L
  const rates = o.lr === undefined ? undefined : parseRates(o.lr);
  let p: (GpPrediction | ReturnType<typeof ensemblePredict>) & { warning?: string };
  let train: { x: number[]; y: number[] } | null = null;
  if (o.seeds !== undefined) {
    const N = Number(o.seeds);
    if (!Number.isInteger(N) || N < 2) throw new LimitUsageError(`--seeds ${o.seeds}: expected an integer ≥ 2 (an ensemble needs a spread)`);
    if (o.kernel === 'nngp') throw new LimitUsageError('--kernel nngp is for the infinite-width prediction (with --width)');
    const bar = progress('predict', o.json !== true);
    let done = 0;
    p = ensemblePredict({ t, seeds: N, lr: rates, modelAt: (s) => (bar.update(done++, N, `initialization ${s}`), loadModel(file, { overrides, seed: s })) });
    bar.update(N, N);
    bar.done();
  } else {
    const lr = rates === undefined ? 1 : commonRate(model, rates);
    const bar = progress('predict', o.json !== true);
    guardLimit(model, { testDiag: o.diag === true }, {});
    bar.status('the infinite-width kernels (NNGP and NTK recursions), then the GP prediction');
    const lim = limitKernelsDense(model, { width: widths(o), overrides, tol: tolOf(o), testDiag: o.diag === true, onProgress: (d, t) => bar.update(d, t, 'the infinite-width kernels') });
    bar.status(`the GP prediction: the ${lim.n * lim.outputs} × ${lim.n * lim.outputs} kernel's eigendecomposition, then the test inputs`);
    p = gpPredict(lim, squareTargets(model), { t, kernel: o.kernel ?? 'ntk', ridge, diag: o.diag === true, lr });
    bar.done();
  }
  if (o.plot) train = await plotPrediction(o.plot, file, model, p);
  void train;
  if (p.warning && !o.json) process.stderr.write(`warning: ${p.warning}\n`);
  if (o.out) {
    // the arrays in the files, the summary on stdout
    const f = predictionFiles(p, o.out);
    if (o.json) return out(JSON.stringify(f));
    return out(table([...predictionRows(p), ...written(f.files)]));
  }
  if (o.json) return out(JSON.stringify(p));
  out(table(predictionRows(p)));
  out(`\nmean:\n${matrix(Float64Array.from(p.mean), 1, p.mean.length)}\nstandard deviation:\n${matrix(Float64Array.from(p.variance.map((v) => Math.sqrt(Math.max(v, 0)))), 1, p.variance.length)}`);
}

/** The summary of a prediction: which one, t, the kernel, the condition number. */
function predictionRows(p: (GpPrediction | ReturnType<typeof ensemblePredict>) & { warning?: string }): [string, string][] {
  const rows: [string, string][] = [
    ['prediction', 'seeds' in p ? `finite-width ensemble of ${p.seeds} initializations (eq. 19)` : `infinite width, ${p.kernel === 'ntk' ? 'NTK-GP (all layers trained, eqs. 27–30)' : 'NNGP (readout trained, eqs. 44–45 / 25–26)'}`],
    ['t', String(p.t)],
    ['kernel', 'seeds' in p ? p.kernel : `${p.lr === 1 ? '' : `${p.lr}·`}${p.kernel === 'ntk' ? 'Θ' : '𝒦'}`],
  ];
  if (!('seeds' in p)) rows.push(['condition number', `${num(p.condition, 3)}${p.ridge ? ` (ridge ${p.ridge})` : ''}`]);
  return rows;
}

/** `ntk scaling FILE --widths … --limit`: ‖Θ̂_m − Θ‖ and ‖mean h hᵀ − 𝒦‖ against m, with slopes. */
export async function cmdScalingLimit(file: string, o: Common & { widths?: string; seeds?: string; dim?: string; plot?: string; T?: string; orders?: string }) {
  if (o.T !== undefined || o.orders !== undefined) throw new LimitUsageError('--limit compares the kernels at initialization with their limits: drop --T and --orders');
  const ws = (o.widths ?? '').split(',').map(Number);
  if (!o.widths || ws.some((w) => !Number.isInteger(w) || w < 1)) throw new LimitUsageError(`--widths ${o.widths ?? ''}: expected positive integers, e.g. --widths 64,256,1024`);
  const seeds = o.seeds === undefined ? 3 : Number(o.seeds);
  if (!Number.isInteger(seeds) || seeds < 1) throw new LimitUsageError(`--seeds ${o.seeds}: expected an integer ≥ 1`);
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new LimitUsageError(`--plot ${o.plot}: use a .svg or .png file`);
  const dim = o.dim ?? 'm';
  const overrides = parseSet(o.set);
  const model = loadModel(file, { overrides, seed: 0 });
  const r = limitScaling(model, { dim, widths: ws, seeds, overrides, modelAt: (m, s) => loadModel(file, { overrides: new Map([...overrides, [dim, m]]), seed: s }) });
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    await writePlot(o.plot, limitScalingPlotSpec(r, file));
  }
  if (o.json) return out(JSON.stringify({ dim, widths: ws, seeds, points: r.points, fits: r.fits }));
  const rows: [string, string][] = ws.map((w) => {
    const nt = r.points.filter((p) => p.quantity === 'ntk' && p.width === w).map((p) => p.value);
    const ng = r.points.find((p) => p.quantity === 'nngp' && p.width === w);
    return [`${dim} = ${w}`, `‖Θ̂ − Θ‖/‖Θ‖ ${nt.length ? num(nt.reduce((a, b) => a + b, 0) / nt.length, 4) : '—'} (mean of ${nt.length})   ‖mean h hᵀ − 𝒦‖/‖𝒦‖ ${ng ? num(ng.value, 4) : '—'}`];
  });
  for (const f of r.fits) rows.push([`slope (${f.quantity})`, `${num(f.slope, 3)}${f.stderr === null ? '' : ` ± ${num(f.stderr, 2)}`} (theory: −0.5${f.quantity === 'nngp' ? ' until the seeds\' sampling error dominates' : ''})`]);
  out(table(rows));
}

/** Mean ± 2σ at 1-D test inputs, with the training points. */
async function plotPrediction(path: string, file: string, model: Model, p: { mean: number[]; variance: number[] }) {
  const X = model.data.find((d) => model.graph.cone([model.output]).includes(d.node) && d.shape.length === 2 && d.shape[0] === model.outputShape[0]);
  const Xt = model.test ? model.data.find((d) => model.graph.cone([model.test!.output]).includes(d.node) && d.shape.length === 2 && d.shape[0] === model.test!.shape[0]) : undefined;
  if (!X || !Xt || X.shape[1] !== 1 || Xt.shape[1] !== 1 || p.mean.length !== Xt.shape[0])
    throw new LimitUsageError('--plot draws 1-D inputs with one output: X : [n, 1] and Xt : [nt, 1]');
  const { writePlot } = await import('./plot.ts');
  await writePlot(path, predictionPlotSpec({
    title: `prediction of ${file}`, xTrain: Array.from(X.value), yTrain: Array.from(squareTargets(model)),
    xTest: Array.from(Xt.value), mean: p.mean, variance: p.variance,
  }));
  return null;
}

/** The two commands, registered on the program (a few lines in main.ts). */
export function registerLimitCommands(program: Command, common: (c: Command) => Command) {
  common(program.command('limit').argument('<file>').description('the NNGP and NTK of the infinite-width limit (derived from the graph; MATH.md §5)'))
    .option('--width <m[,m2,…]>', 'the width dim(s), all → ∞ together')
    .option('--latex', 'print the recursion as LaTeX')
    .option('--out <K.npy|K.csv|K.json>', 'write each kernel to K.<key>.npy (or .csv, .json): nngp, ntk, nngpCross, …; print the summary only')
    .option('--tol <ε>', 'tolerance of the adaptive quadrature (default 1e-12)')
    .action((file: string, o: LimitCli) => cmdLimit(file, o));
  common(program.command('predict').argument('<file>').description('the trained infinite network at the test inputs (NTK-GP or NNGP), or the finite-width ensemble with --seeds'))
    .option('--width <m[,m2,…]>', 'the width dim(s) → ∞ (infinite-width prediction)')
    .option('--T <t>', 'training time: a number or inf')
    .addOption(new Option('--kernel <K>', 'ntk: all layers trained (default); nngp: the readout only').choices(['ntk', 'nngp']))
    .option('--diag', 'variances only (no test × test covariance)')
    .option('--ridge <λ>', 'add λ to the train kernel diagonal (ill-conditioned kernels)')
    .option('--seeds <N>', 'without --width: the ensemble of N initializations (eq. 19), its mean and covariance')
    .option('--lr <η|W=η1,v=η2>', 'the flow dw/dt = −H∇L: one rate for all parameters, or rates by name (the others frozen; with --seeds: the NTK Dh·H·Dhᵀ)')
    .option('--tol <ε>', 'tolerance of the adaptive quadrature (default 1e-12)')
    .option('--plot <file.svg|file.png>', '1-D inputs: mean ± 2σ with the training points')
    .option('--out <P.npy|P.csv|P.json>', 'write P.mean, P.variance, P.cov (and with --seeds P.predictions) to files; print the summary only')
    .action((file: string, o: PredictCli) => cmdPredict(file, o));
}
