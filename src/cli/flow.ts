/**
 * The commands on flows: `flow` (the gradient flow of α·h next to its linearization, or with
 * --lr/--steps gradient descent) and `sweep` (the flow over a grid). They parse options, call
 * `flowStudy`, `descentReport` and `runSweep` of `src/index.ts`, and print the reports.
 */
import { Option, type Command } from 'commander';
import { checkOutputPath, checkOut, flowFiles, descentFiles, flowPlotSpec, sweepPlotSpec, descentReport, flowStudy, runSweep, loadModel, FLOW_METHODS, parseRates, withRates, type FlowMethod, type FlowReport, type SweepOutcome } from '../index.ts';
import { displayWidth, num, padStart, progress, table, vector, written } from './format.ts';
import { duration, type StepWatchState } from '../index.ts';
import { slurmOptions, sweepToCluster, type SlurmCli } from './cluster.ts';
import { common, constantOption, emitJson, intOption, load, maxMemoryOption, out, parseSet, positive, printWarnings, summaryHeader, UsageError, type Common } from './options.ts';


/** --times t1,t2,…: positive numbers, at most `max` when the horizon is known here. */
function parseTimes(raw: string | undefined, max = Infinity): number[] {
  if (raw === undefined) return [];
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new UsageError(`--times ${raw}: '${x}' is not a time in (0, T = ${max}]`);
    return v;
  });
}

interface FlowCli extends Common {
  alpha?: string;
  T?: string;
  times?: string;
  method?: string;
  rtol?: string;
  lipDh?: string;
  lipH?: string;
  radius?: string;
  lr?: string;
  steps?: string;
  plot?: string;
  maxSteps?: string;
  maxTime?: string;
  /** commander's negated `--no-lip`: false skips the estimate. */
  lip?: boolean;
  /** The trajectory and outputs to files (a single run; `sweep --out` is its results file). */
  out?: string;
}

/** --max-steps N and --max-time S: the solver's limits (absent: none given). */
function limitOptions(o: FlowCli): { maxSteps?: number; maxTime?: number } {
  return {
    ...(o.maxSteps === undefined ? {} : { maxSteps: intOption('--max-steps', o.maxSteps, 1, 1) }),
    ...(o.maxTime === undefined ? {} : { maxTime: positive('--max-time', o.maxTime, 1) }),
  };
}

/** The flow's progress note: where t is, the last step size, the steps and the time projected to T. */
export function flowNote(t: number, T: number, s?: StepWatchState): string {
  if (!s) return `t = ${num(t)}`;
  const rejected = s.steps ? Math.round((100 * s.rejected) / s.steps) : 0;
  return `t = ${num(t)}, h = ${num(s.h, 2)}, ${s.steps} steps (${rejected}% rejected)${s.eta !== null && s.elapsed > 2 ? `, ~${duration(s.eta)} to T` : ''}`;
}

/** `flow --lr η --steps N`: gradient descent on the model and its linearization. */
function cmdDescent(file: string, o: FlowCli) {
  const alpha = positive('--alpha', o.alpha, 1);
  if (o.lr === undefined || o.steps === undefined) throw new UsageError('gradient descent needs both --lr η and --steps N');
  if (o.T !== undefined) throw new UsageError('--T and --steps both set the horizon: give one (T = η·N)');
  // --lr η, or per-parameter rates W=η1,v=η2 (the others frozen; then the step is 1 and T = N)
  const rates = parseRates(o.lr);
  const lr = typeof rates === 'number' ? rates : 1;
  const steps = intOption('--steps', o.steps, 1, 1);
  const times = parseTimes(o.times, lr * steps);
  if (o.out !== undefined) checkOut('descent', o.out);
  const m = load(file, o);
  const bar = progress('descent', !o.json);
  const r = descentReport(m, { alpha, lr: rates, steps, times, onProgress: bar.update });
  bar.done();
  const files = o.out === undefined ? null : descentFiles(r, o.out);
  if (o.json) return emitJson(files ?? r);
  printWarnings(m, o.json);
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  out(table([
    ...summaryHeader(m),
    ['α, η, N', `${num(alpha)}, ${r.rates ? r.rates.map((q) => `${q.name}: ${num(q.rate)}`).join(', ') : num(lr)}, ${steps} (T = ${r.rates ? 'N' : 'η·N'} = ${num(r.T)})`],
    ['kernel', r.kernel],
    ['R0', num(r.R0)],
    ['E after N steps', num(r.error)],
    ['η·λmax(K0)', `${num(r.stability)} (the linearized iteration converges iff < 2)`],
    ['‖w_N − w0‖', `${num(r.weightChange)}  (linearized ${num(r.linWeightChange)})`],
    ['loss', `${num(r.loss)}  (linearized ${num(r.linLoss)})`],
    ...r.trajectory.slice(0, -1).map((q) => [`E(t = ${num(q.t)})`, num(q.error)] as [string, string]),
    ...(files ? written(files.files) : []),
  ]));
}

/** E(t) of a flow against the bounds of the theory at every t of its trajectory (`flowPlotSpec`). */
async function plotFlow(path: string, file: string, r: FlowReport, nonSmooth: boolean) {
  const { writePlot } = await import('./plot.ts');
  await writePlot(path, flowPlotSpec(r, file, nonSmooth));
}

async function cmdFlow(file: string, o: FlowCli) {
  // named rates without --steps: the flow dw/dt = −H∇L; a plain --lr η (or --steps) is gradient descent
  const rates = o.lr !== undefined && o.steps === undefined ? parseRates(o.lr) : undefined;
  if (o.steps !== undefined || typeof rates === 'number') return cmdDescent(file, o);
  const alpha = positive('--alpha', o.alpha, 1);
  if (o.T === undefined) throw new UsageError('flow needs a time horizon: --T 100 (or the name of a const, --T T)');
  // No --rtol: the method's own default (tight for the explicit methods, 1e-5 for exponential Adams, 1e-6 for etdrk4).
  const rtol = o.rtol === undefined ? undefined : positive('--rtol', o.rtol, 1e-10);
  if (rtol !== undefined && rtol >= 1) throw new UsageError(`--rtol ${o.rtol}: a relative tolerance must be below 1`);
  const m = rates ? withRates(load(file, o), rates) : load(file, o);
  const T = constantOption('--T', o.T)!;
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.plot) checkOutputPath(o.plot, '--plot');
  if (o.out !== undefined) checkOut('flow', o.out);
  const userTimes = parseTimes(o.times, typeof T === 'number' ? T : Infinity);
  const limits = limitOptions(o);
  const bar = progress('flow', !o.json);
  const r = await flowStudy(m, {
    ...limits, onStatus: bar.status,
    // a trajectory to a file has the plot's 48 log-spaced times too
    alpha, T, times: userTimes, plotTimes: o.plot !== undefined || o.out !== undefined, method: (o.method ?? 'auto') as FlowMethod, ...(rtol === undefined ? {} : { rtol }),
    lipDh: constantOption('--lip-dh', o.lipDh), lipH: constantOption('--lip-h', o.lipH), radius: constantOption('--radius', o.radius),
    lip: o.lip !== false, overrides: parseSet(o.set),
    onProgress: (t, T, s) => bar.update(Math.round((1000 * t) / T), 1000, flowNote(t, T, s)),
  });
  bar.done();
  if (o.plot) await plotFlow(o.plot, file, r, m.nonSmooth);
  const files = o.out === undefined ? null : flowFiles(r, o.out);
  if (o.json) return emitJson(files ?? r);
  printWarnings(m, o.json);
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  const show = (value: number | null, note: string | null) => (value === null ? `n/a (${note})` : `${num(value)}${note ? `  (${note})` : ''}`);
  const { lipH, lipDh, lipEstimate } = r;
  out(table([
    ...summaryHeader(m),
    ['α, T', `${num(alpha)}, ${num(r.T)}`],
    ['kernel', r.kernel.name],
    ['R0', num(r.R0)],
    ['E(T)', `${num(r.error)}${r.errorAccuracy === null ? '' : `  (± ${num(r.errorAccuracy, 2)})`}`],
    ['κ', r.kappa === null ? 'unknown (give --lip-dh)' : num(r.kappa)],
    ...(lipEstimate
      ? ([
          ['Lip(h), Lip(Dh)', `${lipH === null ? 'n/a' : num(lipH)}, ${lipDh === null ? 'n/a' : num(lipDh)}  (certified upper bounds on B(w0, ${num(lipEstimate.radius)}) by ntk lip; attained ${num(lipEstimate.lipH.lower)}, ${num(lipEstimate.lipDh.lower)})`],
          ...(lipEstimate.lipDh.upper === null && lipEstimate.lipDh.note ? [['  Lip(Dh) note', lipEstimate.lipDh.note]] : []),
        ] as [string, string][])
      : r.lipSource === 'given'
        ? ([['Lip(h), Lip(Dh)', `${lipH === null ? 'unknown' : num(lipH)}, ${lipDh === null ? 'unknown' : num(lipDh)}  (given)`]] as [string, string][])
        : []),
    // the sharper form holds under the same hypothesis as Theorem 1.2: the same note
    ['Thm 1.2 bound', show(r.bound, r.boundNotes.theorem12)],
    ['  sharper form', show(r.sharpBound, r.boundNotes.theorem12)],
    ['Prop 1.1 bound', show(r.chizatBound, r.boundNotes.prop11)],
    ['‖w(T) − w0‖', `${num(r.weightChange)}  (linearized ${num(r.linWeightChange)}; Prop 3.1 bound ${r.weightBound === null ? 'n/a' : num(r.weightBound)})`],
    ...(r.radius === null ? [] : [['in the ball', `${r.stayedInBall ? 'yes' : 'no'} (max ‖w(t) − w0‖ = ${num(r.maxWeightChange)}, ρ = ${num(r.radius)})`] as [string, string]]),
    ['loss at T', `${num(r.loss)}  (linearized ${num(r.linLoss)})`],
    ['α·h(w(T))', vector(r.out)],
    ['α·h̄(w̄(T))', vector(r.linOut)],
    ...(r.testOut
      ? ([
          [`α·${m.test!.name}(w(T))`, vector(r.testOut)],
          [`α·${m.test!.name}̄(w̄(T))`, vector(r.linTestOut!)],
          ['E on test inputs', num(r.testError!)],
        ] as [string, string][])
      : []),
    ['solver', `${r.method}: ${r.stats.steps} steps (${r.stats.rejected} rejected), ${r.stats.rhsEvals} gradient evaluations`],
    ...r.trajectory.filter((p) => userTimes.includes(p.t) && p.t !== r.T).map((p) => [`E(${num(p.t)})`, num(p.error)] as [string, string]),
    ...(files ? written(files.files) : []),
  ]));
}

function numberList(name: string, raw: string | undefined, positiveOnly = true): number[] {
  if (raw === undefined) throw new UsageError(`sweep needs ${name} v1,v2,…`);
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) throw new UsageError(`${name} ${raw}: '${x}' is not a positive number`);
    return v;
  });
}

interface SweepCli extends FlowCli, SlurmCli {
  accuracy?: boolean;
  workers?: string;
  out?: string;
  fresh?: boolean;
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
  const fit = (name: string, f: SweepOutcome['fitTime'], why = 'not enough points') =>
    f === null ? `  ${name}: ${why}` : `  ${name}: slope ${f.slope.toFixed(3)}${f.stderr === null ? '' : ` ± ${f.stderr.toFixed(3)}`} over ${f.n} points`;
  const curves = outcome.series.length > 1 ? outcome.series.map((c) => fit(`  ${c.name}`, c.fit)) : [];
  return [
    line(head), ...rows.map(line), '',
    fit('log E against log(T/α)', outcome.fitTime), ...curves,
    fit('log E against log κ', outcome.fitKappa, outcome.fitKappaNote ?? undefined),
  ].join('\n');
}

async function cmdSweep(file: string, o: SweepCli) {
  const alphas = numberList('--alpha', o.alpha);
  const horizon = o.T !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(o.T) ? o.T : undefined;
  const Ts = horizon === undefined ? numberList('--T', o.T) : [];
  const axes: Record<string, number[]> = {};
  for (const item of o.set) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(item.trim());
    if (!match) throw new UsageError(`--set ${item}: expected NAME=v1,v2,…, e.g. --set m=64,256`);
    if (axes[match[1]!]) throw new UsageError(`--set ${match[1]} is given twice`);
    axes[match[1]!] = numberList(`--set ${match[1]}=`, match[2], false);
  }
  if (o.out && !/\.(csv|json)$/.test(o.out)) throw new UsageError(`--out ${o.out}: use a .csv or .json file`);
  if (o.plot && !/\.(svg|png)$/.test(o.plot)) throw new UsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.out) checkOutputPath(o.out, '--out');
  if (o.plot) checkOutputPath(o.plot, '--plot');
  const rtol = o.rtol === undefined ? undefined : positive('--rtol', o.rtol, 1e-10);
  const seed = intOption('--seed', o.seed, 0, 0);
  // Every value of each grid axis, with the others at their first: a dim of 0 in the grid is a
  // located error here, before any point runs.
  const first = Object.fromEntries(Object.entries(axes).map(([k, v]) => [k, v[0]!]));
  for (const [name, values] of Object.entries(axes))
    for (const v of new Set(values)) loadModel(file, { overrides: new Map(Object.entries({ ...first, [name]: v })), seed });
  const shared = {
    file, seed, ...(rtol === undefined ? {} : { rtol }), ...limitOptions(o),
    lipDh: constantOption('--lip-dh', o.lipDh), lipH: constantOption('--lip-h', o.lipH), radius: constantOption('--radius', o.radius),
    method: (o.method ?? 'auto') as 'auto',
    ...(horizon === undefined ? {} : { horizon }),
    ...(o.lip === false ? { lip: false } : {}),
    ...(o.accuracy ? { accuracy: true } : {}),
  };
  if (o.plan || o.slurm) {
    // the model is checked once, with the first grid values, before the plan is written
    loadModel(file, { overrides: new Map(Object.entries(axes).map(([k, v]) => [k, v[0]!])), seed });
    return sweepToCluster({ alphas, Ts, axes, shared, ...(o.out ? { out: o.out } : {}) }, o);
  }
  const bar = progress('sweep', !o.json);
  const outcome = await runSweep({
    file, alphas, Ts, axes,
    shared,
    ...(o.workers === undefined ? {} : { workers: intOption('--workers', o.workers, 1, 1) }),
    out: o.out ?? null,
    fresh: o.fresh === true,
    onRow: bar.update,
  });
  bar.done();
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    await writePlot(o.plot, sweepPlotSpec(outcome, file));
  }
  if (o.json) return emitJson(outcome);
  // The flows' warnings, each once, with the points where it came up.
  const where = new Map<string, string[]>();
  for (const r of outcome.rows)
    for (const w of r.warnings ?? []) where.set(w, [...(where.get(w) ?? []), [`α=${r.alpha}`, `T=${r.T}`, ...Object.entries(r.set).map(([k, v]) => `${k}=${v}`)].join(' ')]);
  for (const [w, points] of where) process.stderr.write(`warning: ${w} (at ${points.length > 3 ? `${points.slice(0, 3).join('; ')} and ${points.length - 3} more` : points.join('; ')})\n`);
  if (outcome.resumed) process.stderr.write(`resumed: ${outcome.resumed} points read from ${o.out}\n`);
  out(formatSweep(outcome, Object.keys(axes).filter((n) => n !== horizon)));
}

/** Register `flow` and `sweep`. */
export function registerFlowCommands(program: Command): void {
  common(program.command('flow').argument('<file>').description('the gradient flow of α·h next to its linearization: E(T) against the bounds'))
    .option('--alpha <A>', 'the scale α of the model (default 1)')
    .option('--T <T>', 'the time horizon')
    .option('--times <t1,t2,…>', 'also report E(t) at these times')
    .addOption(new Option('--method <M>', 'ODE method').choices([...FLOW_METHODS]).default('auto'))
    .option('--rtol <r>', 'relative tolerance on the deviation from the linearized flow (default 1e-10; 1e-5 for exponential, 1e-6 for etdrk4)')
    .option('--lip-dh <L>', 'a known Lip(Dh) on the ball (for κ and the bounds): a number or a const of the model')
    .option('--lip-h <L>', 'a known Lip(h) on the ball (for Proposition 1.1): a number or a const')
    .option('--radius <ρ>', 'the radius ρ of the ball B(w0, ρ) (for the validity horizons): a number or a const')
    .option('--no-lip', 'without --lip-h/--lip-dh, do not estimate them (by default: ntk lip on the ball of radius √(T·R0)/α, Prop. 3.1)')
    .option('--lr <η|W=η1,v=η2>', 'gradient descent with this learning rate (with --steps); per-parameter rates (the others frozen): with --steps gradient descent, without it the flow dw/dt = −H∇L')
    .option('--steps <N>', 'the number of gradient descent steps')
    .option('--plot <file.svg|file.png>', 'E(t) against the bounds over time, log-log')
    .option('--out <F.npy|F.csv|F.json>', 'write F.trajectory (t, error, weightChange, linWeightChange; the flow: also at 48 log-spaced times), F.out, F.linOut (and the test outputs) to files; print the summary only')
    .option('--max-steps <N>', 'stop (with where it stood and what to try) after N attempted solver steps (default 1e6)')
    .option('--max-time <S>', 'stop after S seconds of integration')
    .action((file: string, o: FlowCli) => cmdFlow(file, o));
  program
    .command('sweep')
    .argument('<file>')
    .description('the flow over a grid of α, T and --set values, in parallel; resumable; slope fits')
    .option('--json', 'print one JSON object instead of a table')
    .option('--set <NAME=v1,v2,…>', 'a grid axis over a dim or const (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--seed <S>', 'seed of random initializers (default 0)')
    .option('--debug', 'show stack traces of internal errors')
    .option('--alpha <a1,a2,…>', 'values of α')
    .option('--T <T1,T2,…>', 'values of T, or the name of a const of the model to use as the horizon (e.g. --T T)')
    .addOption(new Option('--method <M>', 'ODE method').choices([...FLOW_METHODS]).default('auto'))
    .option('--rtol <r>', 'relative tolerance (default 1e-10)')
    .option('--lip-dh <L>', 'a known Lip(Dh): a number, or a const of the model that follows the grid')
    .option('--lip-h <L>', 'a known Lip(h): a number or a const')
    .option('--radius <ρ>', 'the radius of the ball: a number or a const')
    .option('--no-lip', 'without --lip-h/--lip-dh, do not estimate them at each point (by default: as ntk flow does, on the ball of radius √(T·R0)/α)')
    .option('--accuracy', "estimate each E(T)'s accuracy by a second solve (column errorAccuracy; NA without it)")
    .option('--workers <N>', 'worker threads (default: one per core)')
    .option('--out <file.csv|file.json>', 'write the results there after every point; a rerun resumes from it')
    .option('--fresh', 'ignore (and overwrite) an existing --out')
    .option('--plot <file.svg|file.png>', 'a log-log plot of E(T) against T/α')
    .option('--max-steps <N>', 'per point: stop a flow after N attempted solver steps (default 1e6)')
    .option('--max-time <S>', 'per point: stop a flow after S seconds of integration')
    .option('--chunk <N>', 'with --plan/--slurm: grid points per task (default 1, more past 1000 points)')
    // the whole sweep's: the points running at once (one per worker) share it
    .addOption(maxMemoryOption())
    .action((file: string, o: SweepCli) => cmdSweep(file, o));
  slurmOptions(program.commands.find((c) => c.name() === 'sweep')!);
}
