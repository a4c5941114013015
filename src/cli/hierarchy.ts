/**
 * The commands of the Neural Tangent Hierarchy: `nth` (the truncated hierarchy next to the true
 * flow) and `scaling` (kernel norms against a width). They parse options, call `nthReport` and
 * `scalingStudy` of `src/index.ts`, and print the reports.
 */
import type { Command } from 'commander';
import { checkOutputPath, checkOut, nthReport, scalingStudy, scalingPlotSpec, MAX_ORDER, parseRates, ratesFor, withRates, kernelName } from '../index.ts';
import { displayWidth, num, padStart, progress, table, vector, written } from './format.ts';
import { common, emitJson, flat, intList, intOption, load, out, parseSet, positive, printWarnings, summaryHeader, UsageError, type Common } from './options.ts';
import { parseOrder } from './model.ts';
import { cmdScalingLimit } from './limit.ts';

function cmdNth(file: string, o: Common & { order?: string; T?: string; alpha?: string; rtol?: string; lr?: string; out?: string }) {
  const order = parseOrder(o.order);
  if (o.T === undefined) throw new UsageError('nth needs a time horizon: --T 1');
  const T = positive('--T', o.T, 0);
  const alpha = positive('--alpha', o.alpha, 1);
  const rtol = positive('--rtol', o.rtol, 1e-10);
  if (o.out !== undefined) checkOut('nth', o.out);
  // --lr: the flow dw/dt = −H∇L (one η: H = ηI; named rates: the others frozen), kernels in the metric H
  const rates = o.lr === undefined ? undefined : parseRates(o.lr);
  const plain = load(file, o);
  const m = rates === undefined ? plain : withRates(plain, ratesFor(plain, rates));
  const r = nthReport(m, { order, T, alpha, rtol, out: o.out ?? null, json: o.json === true });
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  const warning = r.warnings?.[0];
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const head: [string, string][] = [...summaryHeader(m), ['order p, α, T', `${order}, ${num(alpha)}, ${num(T)}`], ['kernel K2', kernelName(m)]];
  const tail: [string, string][] = [['steps', `${r.stats.hierarchySteps} (hierarchy), ${r.stats.flowSteps} (flow)`]];
  // with --out the arrays are in the files: the summary only
  if ('files' in r) return void out(table([...head, ['error ‖h̃ − h‖', num(r.error)], ...(r.testError == null ? [] : [['test error ‖g̃ − g‖', num(r.testError)] as [string, string]]), ...tail, ...written(r.files)]));
  const K2 = flat(r.K2), trueK2 = flat(r.trueK2);
  let dK = 0;
  for (let i = 0; i < K2.length; i++) dK = Math.max(dK, Math.abs(K2[i]! - trueK2[i]!));
  out(table([
    ...head,
    ['α·h̃(T) (hierarchy)', vector(r.out)],
    ['α·h(w(T)) (flow)', vector(r.trueOut)],
    ['error ‖h̃ − h‖', num(r.error)],
    ...(r.testOut
      ? ([
          ['α·g̃(T) at test inputs (hierarchy)', vector(r.testOut)],
          ['α·g(w(T)) at test inputs (flow)', vector(r.trueTestOut!)],
          ['test error ‖g̃ − g‖', num(r.testError!)],
        ] as [string, string][])
      : []),
    ['max |K̃2 − K2| at T', num(dK)],
    ...tail,
  ]));
}

async function cmdScaling(file: string, o: Common & { widths?: string; orders?: string; seeds?: string; dim?: string; T?: string; alpha?: string; plot?: string }) {
  const widths = intList('--widths', o.widths, 1, 'scaling');
  const orders = o.orders === undefined ? [2, 3, 4] : intList('--orders', o.orders, 2, 'scaling');
  for (const r of orders) parseOrder(String(r));
  const seeds = intOption('--seeds', o.seeds, 1, 3);
  const dim = o.dim ?? 'm';
  const T = o.T === undefined ? undefined : positive('--T', o.T, 0);
  const alpha = positive('--alpha', o.alpha, 1);
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.plot) checkOutputPath(o.plot, '--plot');
  const bar = progress('scaling', !o.json);
  const res = scalingStudy(file, { widths, orders, seeds, dim, ...(T === undefined ? {} : { T }), alpha, overrides: parseSet(o.set), onProgress: bar.update });
  bar.done();
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    await writePlot(o.plot, scalingPlotSpec(res, file));
  }
  if (o.json) return emitJson(res);
  const mean = (q: string, w: number) => {
    const ps = res.points.filter((p) => p.quantity === q && p.width === w);
    return ps.reduce((a, p) => a + p.value, 0) / ps.length;
  };
  const qs = [...new Set(res.points.map((p) => p.quantity))];
  const header = [dim, ...qs.map((q) => (q === 'dK2' ? '‖ΔK2‖∞' : `‖${q}‖∞`))];
  const lines = [header, ...widths.map((w) => [String(w), ...qs.map((q) => num(mean(q, w), 4))])];
  const wcol = header.map((_, j) => Math.max(...lines.map((l) => displayWidth(l[j]!))));
  out(lines.map((l) => l.map((c, j) => padStart(c, wcol[j]!)).join('  ')).join('\n'));
  out(`slopes of log(norm) against log(${dim}) over ${seeds} seed(s) (± standard error):`);
  for (const q of qs) {
    const f = res.fits.find((x) => x.quantity === q);
    const name = q === 'dK2' ? 'ΔK2' : q;
    out(f
      ? `  ${name}: ${num(f.slope, 3)}${f.stderr === null ? '' : ` ± ${num(f.stderr, 2)}`}${f.expected === null ? '' : `   (theory for deep networks: ${f.expected}, up to logs)`}`
      : `  ${name}: no slope (fewer than two widths with a positive value)`);
  }
}

/** Register `nth` and `scaling`. */
export function registerHierarchyCommands(program: Command): void {
  common(program.command('nth').argument('<file>').description('the truncated Neural Tangent Hierarchy of order p (eq. 2.7) next to the true flow'))
    .option('--order <p>', `truncation order p, 2 (the linearized flow) to ${MAX_ORDER}`, '2')
    .option('--T <T>', 'the time horizon')
    .option('--alpha <A>', 'the scale α of the model (default 1)')
    .option('--rtol <r>', 'relative tolerance of both integrations (default 1e-10)')
    .option('--lr <η|W=η1,v=η2>', 'the flow dw/dt = −H∇L with rates H (one η for all, or per parameter: the others frozen)')
    .option('--out <N.npy|N.csv|N.json>', 'write N.out, N.trueOut, N.K2, N.trueK2 (and the test outputs) to files; print the summary only')
    .action(cmdNth);
  common(program.command('scaling').argument('<file>').description('width scaling of the hierarchy: ‖K^(r)_0‖∞ (and the NTK change) against a width, slopes'))
    .option('--widths <m1,m2,…>', 'values of the width')
    .option('--orders <r1,r2,…>', 'kernel orders (default 2,3,4)')
    .option('--seeds <N>', 'seeds 0..N−1 per width (default 3)')
    .option('--dim <name>', 'the dim varied (default m)')
    .option('--T <T>', 'also ‖K^(2)_T − K^(2)_0‖∞ along the true flow up to T')
    .option('--alpha <A>', 'the scale α for the flow (default 1)')
    .option('--plot <file.svg|file.png>', 'the norms against the width, log-log')
    .option('--limit', 'instead: the distance of the empirical NTK and of E[h hᵀ] to their infinite-width limits, and slopes')
    .action((file: string, o: Common & { widths?: string; limit?: boolean }) => (o.limit ? cmdScalingLimit(file, o) : cmdScaling(file, o)));
}
