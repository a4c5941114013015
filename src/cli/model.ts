/**
 * The commands on a model at w0: `check`, `eval`, `jacobian`, `kernel`, `derive`, `print` and
 * `lip`. Each parses its options, calls its study of `src/index.ts`, and prints the report: as
 * JSON with --json, else as a summary.
 */
import { Option, type Command } from 'commander';
import {
  checkReport, evalReport, jacobianReport, kernelReport, kernelFileReport, deriveReport, printReport, lipReport, describeKernel, formatDiagnostic, MAX_ORDER, checkOut,
  type KernelReport,
} from '../index.ts';
import { matrix, num, progress, table, vector, written } from './format.ts';
import { common, constantOption, emitJson, flat, intOption, load, out, parseSet, positive, printWarnings, summaryHeader, UsageError, type Common } from './options.ts';
import { kernelTiles, slurmOptions, type KernelOutCli } from './cluster.ts';

function cmdCheck(file: string, o: Common) {
  const m = load(file, o);
  const r = checkReport(m);
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  out(`${file}: ok\n${table(summaryHeader(m))}`);
}

function cmdEval(file: string, o: Common & { alpha?: string }) {
  const m = load(file, o);
  const alpha = positive('--alpha', o.alpha, 1);
  const r = evalReport(m, { alpha });
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  const h = flat(r.h);
  const testRows: [string, string][] = m.test
    ? [[`${m.test.name}(w0)`, `${vector(flat(r.testH))}  (test outputs)`], ...(r.testLoss === null || r.testLoss === undefined ? [] : [['test loss', `${num(r.testLoss)}  (½‖α·${m.test.name}(w0) − target‖², α = ${num(alpha)})`] as [string, string]])]
    : [];
  out(table([...summaryHeader(m), ['h(w0)', vector(h)], ['‖h(w0)‖', num(Math.hypot(...h))], ['R0', r.R0 === null ? 'no loss declared' : `${num(r.R0)}  (loss of α·h(w0), α = ${num(alpha)})`], ...testRows]));
}

function cmdJacobian(file: string, o: Common & { mode?: string; out?: string }) {
  if (o.out !== undefined) checkOut('jacobian', o.out);
  const m = load(file, o);
  const bar = progress('jacobian', !o.json);
  const r = jacobianReport(m, { mode: (o.mode ?? 'auto') as 'auto' | 'forward' | 'reverse', onProgress: bar.update, out: o.out ?? null, json: o.json === true });
  bar.done();
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  const [rows, cols] = r.shape;
  if (r.files) return void out(table([...summaryHeader(m), ['Dh(w0)', `${rows} × ${cols}`], ['‖Dh‖_F', num(r.frobenius!)], ...written(r.files)]));
  const J = flat(r.J);
  let fro = 0;
  for (const x of J) fro += x * x;
  out(`${table([...summaryHeader(m), ['Dh(w0)', `${rows} × ${cols}`], ['‖Dh‖_F', num(Math.sqrt(fro))]])}\n${matrix(J, rows, cols)}`);
}

export function parseOrder(raw: string | undefined): number {
  const order = raw === undefined ? 2 : Number(raw);
  if (!Number.isInteger(order) || order < 2 || order > MAX_ORDER)
    throw new UsageError(`--order ${raw}: expected an integer from 2 (the NTK) to ${MAX_ORDER}`);
  return order;
}

function parseSlice(raw: string | undefined): number[] {
  if (raw === undefined) return [];
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (x.trim() === '' || !Number.isInteger(v) || v < 0) throw new UsageError(`--slice ${raw}: '${x}' is not an output index (0-based)`);
    return v;
  });
}

const STRUCTURES = ['auto', 'rows', 'dense', 'products', 'gram'] as const;
const STRUCTURE_LABEL: Record<KernelReport['structure'], string> = {
  gram: 'Gram products (Δ_PΔ_Pᵀ)∘(U_PU_Pᵀ) per parameter (structured: per-row factors, syrk, no Jacobian)',
  rows: 'per-row passes (structured: factored inner products, no Jacobian)',
  dense: 'whole-model passes (the Jacobian)',
  products: 'NTK-vector products Dh·(Dhᵀ·e_i) (no Jacobian)',
};

function cmdKernel(file: string, o: Common & KernelOutCli & { order?: string; slice?: string; structure?: string }) {
  if (o.tiles !== undefined) {
    if (o.order !== undefined && o.order !== '2') throw new UsageError(`--tiles: tiles are of the NTK (--order 2), not of K^(${o.order})`);
    if (o.slice !== undefined) throw new UsageError('--tiles and --slice: a tile is already a part of the kernel; use one of them');
    return kernelTiles(file, o, parseSet(o.set), intOption('--seed', o.seed, 0, 0));
  }
  if (o.tile !== undefined || o.slurm || o.plan) throw new UsageError(`${o.tile !== undefined ? '--tile' : o.slurm ? '--slurm' : '--plan'} needs --tiles B (the number of blocks of each axis)`);
  if (o.out !== undefined) checkOut('kernel', o.out);
  const order = parseOrder(o.order);
  const slice = parseSlice(o.slice);
  const structure = (o.structure ?? 'auto') as (typeof STRUCTURES)[number];
  if (!STRUCTURES.includes(structure)) throw new UsageError(`--structure ${o.structure}: expected one of ${STRUCTURES.join(', ')}`);
  const m = load(file, o);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  const bar = progress('kernel', !o.json);
  const told = { onProgress: (d: number, t: number) => bar.update(d, t, `the entries of K^(${order})`), onStatus: bar.status };
  const label = `K^(${order})(${[...slice.map(String), ...Array(order - slice.length).fill('·')].join(', ')})`;
  const head = (structure: KernelReport['structure'], shape: number[]): [string, string][] => [
    ...summaryHeader(m), ['kernel', `${label}, ${shape.join(' × ') || 'a number'}`], ['computed by', STRUCTURE_LABEL[structure]],
  ];
  if (o.out !== undefined) {
    // with --out the kernel is in the file, not in the JSON: the summary only
    const f = kernelFileReport(m, o.out, { order, slice, structure, ...told });
    bar.done();
    if (o.json) return emitJson(f);
    printWarnings(m, o.json);
    if (f.warnings?.[0]) process.stderr.write(`warning: ${f.warnings[0]}\n`);
    const rows: [string, string][] = [...head(f.structure, f.shape), ['max |K|', num(f.maxAbs)], ['‖K‖_F', num(f.frobenius)]];
    if (f.trace !== undefined) rows.push(['trace', num(f.trace)]);
    return void out(table([...rows, ...written(f.files)]));
  }
  const r = kernelReport(m, { order, slice, structure, ...told, json: o.json === true });
  bar.done();
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  const warning = r.warnings?.[0];
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const fixed = slice.map(String);
  const K = flat(r.K);
  let maxAbs = 0, fro = 0;
  for (const x of K) {
    maxAbs = Math.max(maxAbs, Math.abs(x));
    fro += x * x;
  }
  const rows: [string, string][] = [...head(r.structure, r.shape), ['max |K|', num(maxAbs)], ['‖K‖_F', num(Math.sqrt(fro))]];
  if (order === 2 && slice.length === 0) {
    let trace = 0;
    for (let i = 0; i < k; i++) trace += K[i * k + i]!;
    rows.push(['trace', num(trace)]);
  }
  out(table(rows));
  // The tensor as matrices over its last two free indices, for the first few leading tuples.
  const free = r.shape.length;
  if (free === 1) {
    out(vector(K));
    return;
  }
  const lead = free - 2, shown = Math.min(4, k ** lead);
  for (let t = 0; t < shown; t++) {
    const idx: number[] = [];
    for (let j = lead - 1, x = t; j >= 0; j--, x = Math.floor(x / k)) idx[j] = x % k;
    if (lead > 0) out(`K^(${order})(${[...fixed, ...idx.map(String), '·', '·'].join(', ')}):`);
    out(matrix(K.slice(t * k * k, (t + 1) * k * k), k, k));
  }
  if (shown < k ** lead) out(`… ${k ** lead - shown} more ${k} × ${k} slices (--json prints the whole tensor)`);
}

async function cmdDerive(file: string, o: Common & { order?: string; latex?: boolean }) {
  const order = parseOrder(o.order);
  const m = load(file, o);
  const r = await deriveReport(m, { order });
  if (o.json) return emitJson(r);
  printWarnings(m, o.json);
  const warning = r.warnings?.[0];
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const k = r.outputs;
  // the names of the kernel's arguments (data rows or index vectors), for the opening line
  const args = r.form === 'rows' ? describeKernel(m, order).args : Array.from({ length: order }, (_, i) => `u${i + 1}`);
  const as = Array.from({ length: order }, (_, i) => `a${i + 1}`);
  const intro =
    r.form === 'none'
      ? `K^(${order}) of ${m.outputName}, a function of the weights (one output)`
      : r.form === 'rows'
        ? `K^(${order})(${as.join(', ')}) = K${order}(${args.join(', ')}) with ${args.map((x, i) => `${x} = row ${as[i]} of the data`).join(', ')}: ${m.outputName} is one output per row`
        : `K${order}[${args.join(', ')}] = Σ ${args.map((u, i) => `${u}_${as[i]}`).join(' ')} K^(${order})(${as.join(', ')}): the kernel as an ${order}-linear form of index vectors u_i ∈ R^${k} (u_i = e_a gives an entry)`;
  out(o.latex ? `% ${intro}\n${r.latex}` : `# ${intro}\n${r.text}`);
  if (r.closedForm) {
    const name = o.latex ? `K^{(${order})}` : `K${order}`;
    out(o.latex ? `% simplified (mathjs)\n${name} = ${r.closedForm.latex}` : `# simplified (mathjs)\n${name} = ${r.closedForm.text}`);
  }
}

async function cmdPrint(file: string, o: Common & { derivative?: boolean }) {
  const m = load(file, o);
  const r = await printReport(m, { derivative: o.derivative === true });
  if (o.json) return emitJson(r);
  out(r.text);
  const c = r.closedForm;
  if (c) {
    const lines = [[r.model, c.h], [`d${r.model}/d${c.variable}`, c.dh]] as const;
    out(`# simplified (mathjs)\n${lines.filter(([, f]) => f).map(([name, f]) => `${name} = ${f!.text}`).join('\n')}`);
  }
}

interface LipCli extends Common {
  radius?: string;
  starts?: string;
  steps?: string;
  budget?: string;
  lowerOnly?: boolean;
}

/** `lip --radius ρ`: lower (attained) and certified upper bounds of Lip(h) and Lip(Dh) on B(w0, ρ). */
function cmdLip(file: string, o: LipCli) {
  if (o.radius === undefined) throw new UsageError('lip needs the radius of the ball: --radius 0.1 (or the name of a const of the model)');
  const radius = constantOption('--radius', o.radius)!;
  const starts = o.starts === undefined ? undefined : intOption('--starts', o.starts, 1, 1);
  const maxSteps = intOption('--steps', o.steps, 1, 60);
  const budgetS = positive('--budget', o.budget, 30);
  const m = load(file, o);
  const bar = progress('lip', !o.json);
  const r = lipReport(m, {
    radius, starts, maxSteps, seed: intOption('--seed', o.seed, 0, 0), lowerOnly: o.lowerOnly === true, timeBudgetMs: budgetS * 1000,
    onPhase: bar.status, onProgress: (d, t, phase) => bar.update(d, t, phase),
  });
  bar.done();
  if (o.json) return emitJson(r);
  // Not the generic non-smooth warning: whether Lip(Dh) has a bound depends on the ball, and the
  // notes below say it.
  for (const d of m.diagnostics) process.stderr.write(formatDiagnostic(d, m.source) + '\n');
  if (m.nonSmooth && r.lipDh.upper !== null)
    process.stderr.write('note: the model uses a non-smooth function, but its kinks stay outside this ball: h is smooth there\n');
  const show = (e: typeof r.lipH) =>
    `${num(e.lower)} ≤ · ≤ ${e.upper === null ? 'no certified bound' : num(e.upper)}${e.upper !== null && e.lower > 0 ? `  (ratio ${num(e.upper / e.lower, 3)})` : ''}${e.converged ? '' : '  [search did not converge]'}`;
  const rows: [string, string][] = [
    ...summaryHeader(m),
    ['ball', `B(w0, ρ), ρ = ${num(r.radius)}`],
    ['Lip(h)', show(r.lipH)],
    ['  attained at', `‖w − w0‖ = ${num(dist(r.lipH.argmax, m.w0))}${vectorHint(r.lipH.argmax)}`],
    ['Lip(Dh)', show(r.lipDh)],
    ['  attained at', `‖w − w0‖ = ${num(dist(r.lipDh.argmax, m.w0))}${vectorHint(r.lipDh.argmax)}`],
    ['time', `${num(r.time.total / 1000, 3)} s (lower ${num(r.time.lower / 1000, 3)} s, upper ${num(r.time.upper / 1000, 3)} s)`],
  ];
  for (const [what, e] of [['Lip(h)', r.lipH], ['Lip(Dh)', r.lipDh]] as const) if (e.note) rows.push([`note on ${what}`, e.note]);
  out(table(rows));
}

const dist = (a: ArrayLike<number>, b: Float64Array) => Math.sqrt(Array.from(a).reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));
const vectorHint = (w: ArrayLike<number>) => (w.length <= 4 ? `  (w = ${vector(w)})` : '');

/** Register the commands on a model at w0. */
export function registerModelCommands(program: Command): void {
  common(program.command('check').argument('<file>').description('parse and check a model: shapes, names, data')).action(cmdCheck);
  common(program.command('eval').argument('<file>').description('h(w0) and the initial loss R0'))
    .option('--alpha <A>', 'scale α of the model in R0 = R(α·h(w0))', undefined)
    .action(cmdEval);
  common(program.command('jacobian').argument('<file>').description('the Jacobian Dh(w0), k × p'))
    .addOption(new Option('--mode <MODE>', 'forward or reverse mode').choices(['auto', 'forward', 'reverse']).default('auto'))
    .option('--out <J.npy|J.csv|J.json>', 'write the Jacobian to a file (by blocks of rows when it is large) and print the summary only')
    .action(cmdJacobian);
  common(program.command('kernel').argument('<file>').description('the tangent kernel of order r on the outputs (r = 2: Dh·Dhᵀ; r ≥ 3: the Neural Tangent Hierarchy)'))
    .option('--order <r>', `order of the kernel, 2 (the NTK) to ${MAX_ORDER}`, '2')
    .option('--slice <a1,…,aj>', 'fix the first j indices (0-based): K^(r)(a1..aj, ·, …, ·), k^(r−j) entries')
    .option('--structure <s>', 'auto (default), gram (per-parameter Gram products of a row-separable model; order 2), rows (per-row passes of a row-separable model), dense (the Jacobian), products (NTK-vector products; order 2)')
    .option('--out <K.npy|K.csv|K.json>', 'write the kernel to a file (with --tiles: a .npy) and print the summary only')
    .option('--tiles <B>', 'the NTK in B×B tiles (upper triangle computed, the rest by symmetry): one tile with --tile, all into --out, or a plan with --plan/--slurm')
    .option('--tile <i,j>', 'with --tiles: compute only tile (i, j), i ≤ j (rows of block i, columns of block j)')
    .action(cmdKernel);
  slurmOptions(program.commands.find((c) => c.name() === 'kernel')!);
  common(program.command('derive').argument('<file>').description('the kernel of order r as mathematics (plain text, or LaTeX with --latex)'))
    .option('--order <r>', `order of the kernel, 2 to ${MAX_ORDER}`, '2')
    .option('--latex', 'print LaTeX (an aligned environment) instead of plain text')
    .action(cmdDerive);
  common(program.command('print').argument('<file>').description('the model (and with --derivative its derivative graphs) as mathematics'))
    .option('--derivative', 'also print Dh·dw and Dhᵀ·u')
    .action(cmdPrint);
}

/** Register `lip`. */
export function registerLip(program: Command): void {
  common(program.command('lip').argument('<file>').description('Lipschitz constants of h and Dh on the ball B(w0, ρ): attained lower bounds and certified upper bounds'))
    .option('--radius <ρ>', 'the radius ρ of the ball: a number or a const of the model')
    .option('--starts <N>', 'most restarts of each search for the sup (default: 6 for Lip(h); for Lip(Dh) adaptive, at least 40)')
    .option('--steps <N>', 'ascent steps per start (default 60)')
    .option('--budget <seconds>', 'wall-clock budget of each search for the sup (default 30); past it: converged false')
    .option('--lower-only', 'skip the certified upper bounds')
    .action(cmdLip);
}
