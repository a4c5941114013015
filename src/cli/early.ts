/**
 * `ntk early FILE --lr W=η1[,v=η2] --steps N --every k [--plot gap.svg]`: a two-layer network
 * next to its linear model of seed 004 (MATH.md §4). Parsing and formatting only; the work is
 * `early` of src/index.ts.
 */
import type { Command } from 'commander';
import { early, parseRates, RateError, EarlyUsageError, checkOut, guardEarly, earlyFiles, type EarlyResult, type Model } from '../index.ts';
import { num, progress, table, written } from './format.ts';
import { intOption } from './options.ts';

export interface EarlyCli {
  json?: boolean;
  set: string[];
  seed?: string;
  lr?: string;
  steps?: string;
  every?: string;
  plot?: string;
  out?: string;
}

/** The options of `early` (besides the common ones). */
export function earlyOptions(cmd: Command): Command {
  return cmd
    .option('--lr <W=η1,v=η2>', 'rates by layer: the first layer W, the readout v (a layer not named is frozen)')
    .option('--steps <N>', 'gradient descent steps (default 1000)')
    .option('--every <k>', 'a trajectory row every k steps (default steps/20)')
    .option('--plot <file.svg|file.png>', "both models' train and test losses and the gap against the step")
    .option('--out <E.npy|E.csv|E.json>', 'write E.trajectory (a row every k steps), E.out, E.linOut to files; print the summary only');
}

/** The JSON object of `ntk early --json` (the library's report under the same names). */
export function earlyJson(r: EarlyResult) {
  return {
    form: r.form, rates: r.rates, constants: r.constants, constantMethods: r.constantMethods, moments: r.moments, inputs: r.inputs,
    kernelDistance: r.kernelDistance, kernelDistance2: r.kernelDistance2, kernelNorm: r.kernelNorm, kernelNorm2: r.kernelNorm2,
    trajectory: r.trajectory, out: r.out, linOut: r.linOut, partStep: r.partStep, horizon: r.horizon, epsilon: r.epsilon, stability: r.stability, warnings: r.warnings,
  };
}

export async function cmdEarly(file: string, o: EarlyCli, load: (file: string, o: EarlyCli) => Model, emit: (s: string) => void): Promise<void> {
  if (o.lr === undefined) throw new EarlyUsageError('early needs the rates of the layers: --lr W=η1 (first layer), --lr v=η2 (readout) or both, --lr W=η1,v=η2');
  const rates = parseRates(o.lr);
  if (typeof rates === 'number') throw new RateError(`--lr ${o.lr}: early takes rates by layer, e.g. --lr W=${o.lr} (first layer) or --lr W=${o.lr},v=${o.lr}`);
  const steps = intOption('--steps', o.steps, 1, 1000);
  const every = intOption('--every', o.every, 1, Math.max(1, Math.round(steps / 20)));
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new EarlyUsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.out !== undefined) checkOut('early', o.out);
  guardEarly({ steps, every }, { out: o.out ?? null, json: o.json === true });
  const model = load(file, o);
  const bar = progress('early', !o.json, 2000); // a terminal only, after 2 s
  const r = early(model, { lr: rates, steps, every, onProgress: bar.update });
  bar.done();
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    const x = r.trajectory.map((q) => q.step);
    const pos = (ys: (number | null)[]) => ys.map((y) => (y === null ? NaN : Math.max(y, 1e-300)));
    const series = [
      { name: 'network, train loss', x, y: pos(r.trajectory.map((q) => q.loss)), style: 'line' as const },
      { name: 'linear model, train loss', x, y: pos(r.trajectory.map((q) => q.linLoss)), style: 'dashed' as const },
      ...(r.trajectory[0]?.testLoss != null
        ? [
            { name: 'network, test loss', x, y: pos(r.trajectory.map((q) => q.testLoss)), style: 'line' as const },
            { name: 'linear model, test loss', x, y: pos(r.trajectory.map((q) => q.linTestLoss)), style: 'dashed' as const },
          ]
        : []),
      { name: 'gap (1/n)Σ(f − f_lin)²', x: x.slice(1), y: pos(r.trajectory.slice(1).map((q) => q.trainGap)), style: 'points' as const },
    ].filter((s) => s.y.every(Number.isFinite));
    await writePlot(o.plot, { title: `${file}: network and linear model (${r.form.activation})`, xLabel: 'step', yLabel: 'loss, gap', logY: true, series });
  }
  const files = o.out === undefined ? null : earlyFiles(earlyJson(r), o.out);
  if (o.json) return emit(JSON.stringify(files ?? earlyJson(r)));
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  const c = r.constants;
  const lines: [string, string][] = [
    ['network', `f(x) = ${r.form.v}ᵀφ(${r.form.W}x/√d)/√m on ${r.form.X} (n = ${r.form.n}, d = ${r.form.d}, m = ${r.form.m}), ${r.form.activation}`],
    ['rates', `η1 = ${num(r.rates.eta1)} (${r.form.W})${r.rates.eta1 === 0 ? ' frozen' : ''}, η2 = ${num(r.rates.eta2)} (${r.form.v})${r.rates.eta2 === 0 ? ' frozen' : ''}`],
    ['ζ, ν', `${num(c.zeta, 12)}, ${num(c.nu, 12)}`],
    ['ϑ0, ϑ1, ϑ2', `${num(c.theta0, 12)}, ${num(c.theta1, 12)}, ${num(c.theta2, 12)}  (${r.moments.method}, ± ${num(r.moments.accuracy, 2)})`],
    ['Tr Σ, Tr Σ²', `${num(r.inputs.traceSigma)} (d = ${r.form.d}), ${num(r.inputs.traceSigma2)}`],
    ['‖Θ1(W0) − Θlin1‖', `${num(r.kernelDistance)}  (‖Θlin1‖ = ${num(r.kernelNorm)})`],
    ['‖Θ2(W0) − Θlin2‖', `${num(r.kernelDistance2)}  (‖Θlin2‖ = ${num(r.kernelNorm2)})`],
    ['horizon', `${num(r.horizon.value)} steps  (${r.horizon.note})`],
    ['parting step', r.partStep === null ? 'none: the gap stays below 10% of the loss' : `${r.partStep} (the first step where the gap exceeds 10% of the loss)`],
    ['ε (Assumption 1)', `${num(r.epsilon)}  (‖K‖ = ${num(r.stability.kernelNorm)}; ‖I − K/n‖ = ${num(r.stability.contraction)})`],
  ];
  // with --out the trajectory is in the file: the summary only
  if (files) return emit(table([...lines, ...written(files.files)]));
  emit(table(lines));
  const hasTest = r.trajectory[0]?.testGap != null;
  const head = ['step', 'loss', 'linLoss', 'gap', 'bound t·ε/√n', ...(hasTest ? ['testGap', 'testLoss', 'linTestLoss'] : [])];
  const rows = r.trajectory.map((q) => [String(q.step), num(q.loss, 4), num(q.linLoss, 4), num(q.trainGap, 3), num(q.bound, 3), ...(hasTest ? [num(q.testGap!, 3), q.testLoss === null ? '–' : num(q.testLoss, 4), q.linTestLoss === null ? '–' : num(q.linTestLoss, 4)] : [])]);
  const width = head.map((h, j) => Math.max(h.length, ...rows.map((row) => row[j]!.length)));
  emit([head, ...rows].map((row) => row.map((cell, j) => cell.padStart(width[j]!)).join('  ')).join('\n'));
}
