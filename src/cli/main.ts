/**
 * The command line: `ntk COMMAND FILE [options]`. Argument parsing and formatting only; all
 * the work goes through the public API of `src/index.ts`.
 *
 * Exit codes: 0 success; 1 an error in the model or its data (located message on stderr);
 * 2 a usage error (unknown command or option, a malformed value); 3 an internal error.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import {
  NtkError,
  MemoryError,
  FlowError,
  boundsReport,
  flow,
  type FlowResult,
  gradientDescent,
  evaluate,
  evaluateTest,
  testLoss,
  formatDiagnostic,
  loadModel,
  loss,
  ntk,
  jacobian,
  kernel,
  KernelUsageError,
  MAX_ORDER,
  describeKernel,
  nth,
  widthScaling,
  nonSmoothWarning,
  printModel,
  lipschitz,
  estimateEntries,
  LipUsageError,
  accuracyFrom,
  parseBytes,
  setMemoryBudget,
  checkFlowStart,
  checkOutputPath,
  OutputPathError,
  ClusterError,
  WriteError,
  writeNpy,
  type Diagnostic,
  type FlowMethod,
  type Model,
  flowPlotSpec,
  flowPlotTimes,
  parseRates,
  withRates,
  RateError,
  kernelName,
  EarlyUsageError,
} from '../index.ts';
import { displayWidth, matrix, nest, num, padStart, progress, table, vector } from './format.ts';
import { defaultWorkers, formatSweep, runSweep, SweepUsageError } from './sweep.ts';
import { BackendUnavailableError } from '../runtime/backends.ts';
import { constantOf } from '../dynamics/sweep.ts';
import { startFlowCheck } from './flow-check.ts';
import { buildPlanProgram, isPlanCommand, kernelTiles, slurmOptions, sweepToCluster, type KernelOutCli, type SlurmCli } from './cluster.ts';
import type { Series } from './plot.ts';
import { cmdScalingLimit, LimitUsageError, registerLimitCommands } from './limit.ts';

/** A usage error: exit 2. */
class UsageError extends Error {}

interface Common {
  json?: boolean;
  set: string[];
  seed?: string;
  debug?: boolean;
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

function parseSet(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const item of items) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(item.trim());
    if (!match) throw new UsageError(`--set ${item}: expected NAME=VALUE, e.g. --set m=256`);
    const value = Number(match[2]);
    if (!Number.isFinite(value)) throw new UsageError(`--set ${item}: '${match[2]}' is not a finite number`);
    if (m.has(match[1]!)) throw new UsageError(`--set ${match[1]} is given twice`);
    m.set(match[1]!, value);
  }
  return m;
}

function intOption(name: string, raw: string | undefined, min: number, dflt: number): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`${name} ${raw}: expected an integer ≥ ${min} (and below 2^53)`);
  return v;
}

function positive(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${name} ${raw}: expected a positive number`);
  return v;
}

function load(file: string, o: Common): Model {
  return loadModel(file, { overrides: parseSet(o.set), seed: intOption('--seed', o.seed, 0, 0) });
}

/** Fail with exit 1 if a result holds NaN or ±Inf: name where and what to try. */
function checkFinite(what: string, data: ArrayLike<number>, model: Model, hint: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!))
      throw new NtkError([{ severity: 'error', file: model.file, span: null, message: `${what} is ${data[i]} at entry ${i}`, hint }]);
  }
}

function emitJson(value: unknown) {
  out(JSON.stringify(value));
}

function summaryHeader(m: Model): [string, string][] {
  return [
    ['model', `${m.outputName} : [${m.outputShape.join(', ')}]`],
    ['parameters', `${m.paramCount} (${m.params.map((q) => `${q.name}[${q.shape.join(',')}]`).join(', ')})`],
    ['outputs', String(m.outputShape.reduce((a, b) => a * b, 1))],
    ...(m.test ? [['test outputs', `${m.test.name} : [${m.test.shape.join(', ')}] (${m.test.shape.reduce((a, b) => a * b, 1)})`] as [string, string]] : []),
  ];
}

function warnings(m: Model): Diagnostic[] {
  const ds = [...m.diagnostics];
  if (m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: null, message: 'the model uses a non-smooth function (relu, abs or sign): second derivatives are zero almost everywhere and Lip(Dh) has no finite bound' });
  if (m.test?.nonSmooth && !m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: m.test.span, message: `the test outputs '${m.test.name}' use a non-smooth function (relu, abs or sign)` });
  return ds;
}

function printWarnings(m: Model, json: boolean | undefined) {
  if (json) return;
  for (const d of warnings(m)) process.stderr.write(formatDiagnostic(d, m.source) + '\n');
}

const diagJson = (d: Diagnostic) => ({ severity: d.severity, message: d.message, file: d.file, line: d.span?.line ?? null, col: d.span?.col ?? null, ...(d.hint ? { hint: d.hint } : {}) });

// ---------------------------------------------------------------- commands

function cmdCheck(file: string, o: Common) {
  const m = load(file, o);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  // testOutputs (kt) only when the model declares test outputs, so that other models' keys are unchanged.
  const test = m.test ? { testOutputs: m.test.shape.reduce((a, b) => a * b, 1) } : {};
  if (o.json) return emitJson({ ok: true, params: m.paramCount, outputs: k, ...test, diagnostics: warnings(m).map(diagJson) });
  printWarnings(m, o.json);
  out(`${file}: ok\n${table(summaryHeader(m))}`);
}

function cmdEval(file: string, o: Common & { alpha?: string }) {
  const m = load(file, o);
  const alpha = positive('--alpha', o.alpha, 1);
  const h = evaluate(m);
  checkFinite('h(w0)', h, m, 'check the initial weights and data scale, and functions like log or sqrt at non-positive values');
  const R0 = m.loss ? loss(m, { alpha }) : null;
  if (R0 !== null && !Number.isFinite(R0)) checkFinite('R0', [R0], m, 'check the loss and the target');
  const k = h.length;
  // The test outputs g(w0) on held-out inputs, and their square loss ½‖α·g(w0) − y_t‖² with a target.
  const g = m.test ? evaluateTest(m) : null;
  if (g) checkFinite(`${m.test!.name}(w0)`, g, m, 'check the held-out data and the initial weights');
  const tLoss = m.test ? testLoss(m, { alpha }) : null;
  const test = m.test ? { testH: nest(g!, m.test.shape), testOutputs: g!.length, testLoss: tLoss } : {};
  if (o.json) return emitJson({ h: nest(h, m.outputShape), R0, alpha, params: m.paramCount, outputs: k, ...test });
  printWarnings(m, o.json);
  const testRows: [string, string][] = m.test
    ? [[`${m.test.name}(w0)`, `${vector(g!)}  (test outputs)`], ...(tLoss === null ? [] : [['test loss', `${num(tLoss)}  (½‖α·${m.test.name}(w0) − target‖², α = ${num(alpha)})`] as [string, string]])]
    : [];
  out(table([...summaryHeader(m), ['h(w0)', vector(h)], ['‖h(w0)‖', num(Math.hypot(...h))], ['R0', R0 === null ? 'no loss declared' : `${num(R0)}  (loss of α·h(w0), α = ${num(alpha)})`], ...testRows]));
}

function cmdJacobian(file: string, o: Common & { mode?: string }) {
  const m = load(file, o);
  const mode = (o.mode ?? 'auto') as 'auto' | 'forward' | 'reverse';
  const bar = progress('jacobian', !o.json);
  const J = jacobian(m, m.w0, { mode, onProgress: bar.update });
  bar.done();
  checkFinite('Dh(w0)', J.data, m, 'check the initial weights, and functions whose derivative blows up (sqrt or log near 0)');
  if (o.json) return emitJson({ J: nest(J.data, [J.rows, J.cols]), shape: [J.rows, J.cols] });
  printWarnings(m, o.json);
  let fro = 0;
  for (const x of J.data) fro += x * x;
  out(`${table([...summaryHeader(m), ['Dh(w0)', `${J.rows} × ${J.cols}`], ['‖Dh‖_F', num(Math.sqrt(fro))]])}\n${matrix(J.data, J.rows, J.cols)}`);
}

function parseOrder(raw: string | undefined): number {
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

const STRUCTURES = ['auto', 'rows', 'dense', 'products'] as const;
const STRUCTURE_LABEL = {
  rows: 'per-row passes (structured: factored inner products, no Jacobian)',
  dense: 'whole-model passes (the Jacobian)',
  products: 'NTK-vector products Dh·(Dhᵀ·e_i) (no Jacobian)',
} as const;

/** The ODE methods of `flow` and `sweep` (`FlowMethod`). */
const FLOW_METHODS: FlowMethod[] = ['auto', 'exponential', 'etdrk4', 'dopri5', 'dop853', 'rosenbrock'];

/**
 * Stored derivative entries up to which `flow` runs the Lipschitz estimate by itself: about a
 * second per enclosure pass here (W2's network, 7e6 entries, took 13 s a pass and five passes).
 */
const FLOW_LIP_ENTRIES = 5e5;

function cmdKernel(file: string, o: Common & KernelOutCli & { order?: string; slice?: string; structure?: string }) {
  if (o.out !== undefined && !o.out.endsWith('.npy')) throw new UsageError(`--out ${o.out}: the kernel is written as a .npy file (numpy.load reads it)`);
  if (o.tiles !== undefined) {
    if (o.order !== undefined && o.order !== '2') throw new UsageError(`--tiles: tiles are of the NTK (--order 2), not of K^(${o.order})`);
    if (o.slice !== undefined) throw new UsageError('--tiles and --slice: a tile is already a part of the kernel; use one of them');
    return kernelTiles(file, o, parseSet(o.set), intOption('--seed', o.seed, 0, 0));
  }
  if (o.tile !== undefined || o.slurm || o.plan) throw new UsageError(`${o.tile !== undefined ? '--tile' : o.slurm ? '--slurm' : '--plan'} needs --tiles B (the number of blocks of each axis)`);
  const order = parseOrder(o.order);
  const slice = parseSlice(o.slice);
  const structure = (o.structure ?? 'auto') as (typeof STRUCTURES)[number];
  if (!STRUCTURES.includes(structure)) throw new UsageError(`--structure ${o.structure}: expected one of ${STRUCTURES.join(', ')}`);
  if (structure === 'products' && order !== 2) throw new UsageError(`--structure products (NTK-vector products) computes the NTK: it needs --order 2, not ${order}`);
  if (slice.length > order - 1) throw new UsageError(`--slice ${o.slice}: a kernel of order ${order} has ${order} indices; fix at most ${order - 1}`);
  const m = load(file, o);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  const bad = slice.find((a) => a >= k);
  if (bad !== undefined) throw new UsageError(`--slice ${o.slice}: index ${bad} is out of range: the model has ${k} outputs (0..${k - 1})`);
  const bar = progress('kernel', !o.json);
  const K = kernel(m, order, { slice, structure, onProgress: bar.update });
  bar.done();
  checkFinite(`K^(${order})(w0)`, K.data, m, 'check the initial weights and data scale');
  const warning = K.warnings[0] ?? null;
  if (o.out !== undefined) writeNpy(o.out, K.shape, K.data);
  if (o.out !== undefined && o.json) return emitJson({ order, shape: K.shape, out: o.out, slice, structure: K.structure, ...(warning ? { warnings: [warning] } : {}) });
  if (o.json) return emitJson({ order, shape: K.shape, K: nest(K.data, K.shape), slice, structure: K.structure, ...(warning ? { warnings: [warning] } : {}) });
  printWarnings(m, o.json);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const fixed = slice.map(String);
  const label = `K^(${order})(${[...fixed, ...Array(order - slice.length).fill('·')].join(', ')})`;
  let maxAbs = 0, fro = 0;
  for (const x of K.data) {
    maxAbs = Math.max(maxAbs, Math.abs(x));
    fro += x * x;
  }
  const rows: [string, string][] = [...summaryHeader(m), ['kernel', `${label}, ${K.shape.join(' × ') || 'a number'}`], ['computed by', STRUCTURE_LABEL[K.structure]], ['max |K|', num(maxAbs)], ['‖K‖_F', num(Math.sqrt(fro))]];
  if (order === 2 && slice.length === 0) {
    let trace = 0;
    for (let i = 0; i < k; i++) trace += K.data[i * k + i]!;
    rows.push(['trace', num(trace)]);
  }
  if (o.out !== undefined) rows.push(['written', `${o.out} (${K.shape.join(' × ') || 'a number'}, float64)`]);
  out(table(rows));
  if (o.out !== undefined) return;
  // The tensor as matrices over its last two free indices, for the first few leading tuples.
  const free = K.shape.length;
  if (free === 1) return out(vector(K.data));
  const lead = free - 2, shown = Math.min(4, k ** lead);
  for (let t = 0; t < shown; t++) {
    const idx: number[] = [];
    for (let j = lead - 1, x = t; j >= 0; j--, x = Math.floor(x / k)) idx[j] = x % k;
    if (lead > 0) out(`K^(${order})(${[...fixed, ...idx.map(String), '·', '·'].join(', ')}):`);
    out(matrix(K.data.subarray(t * k * k, (t + 1) * k * k), k, k));
  }
  if (shown < k ** lead) out(`… ${k ** lead - shown} more ${k} × ${k} slices (--json prints the whole tensor)`);
}

function cmdDerive(file: string, o: Common & { order?: string; latex?: boolean }) {
  const order = parseOrder(o.order);
  const m = load(file, o);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  const plain = describeKernel(m, order);
  const latex = describeKernel(m, order, { latex: true }).text;
  const warning = nonSmoothWarning(m, order);
  if (o.json) return emitJson({ order, outputs: k, form: plain.form, text: plain.text, latex, ...(warning ? { warnings: [warning] } : {}) });
  printWarnings(m, o.json);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const as = Array.from({ length: order }, (_, i) => `a${i + 1}`);
  const intro =
    plain.form === 'none'
      ? `K^(${order}) of ${m.outputName}, a function of the weights (one output)`
      : plain.form === 'rows'
        ? `K^(${order})(${as.join(', ')}) = K${order}(${plain.args.join(', ')}) with ${plain.args.map((x, i) => `${x} = row ${as[i]} of the data`).join(', ')}: ${m.outputName} is one output per row`
        : `K${order}[${plain.args.join(', ')}] = Σ ${plain.args.map((u, i) => `${u}_${as[i]}`).join(' ')} K^(${order})(${as.join(', ')}): the kernel as an ${order}-linear form of index vectors u_i ∈ R^${k} (u_i = e_a gives an entry)`;
  out(o.latex ? `% ${intro}\n${latex}` : `# ${intro}\n${plain.text}`);
}

function cmdNth(file: string, o: Common & { order?: string; T?: string; alpha?: string; rtol?: string; lr?: string }) {
  const order = parseOrder(o.order);
  if (o.T === undefined) throw new UsageError('nth needs a time horizon: --T 1');
  const T = positive('--T', o.T, 0);
  const alpha = positive('--alpha', o.alpha, 1);
  const rtol = positive('--rtol', o.rtol, 1e-10);
  // --lr: the flow dw/dt = −H∇L (one η: H = ηI; named rates: the others frozen), kernels in the metric H
  const rates = o.lr === undefined ? undefined : parseRates(o.lr);
  const plain = load(file, o);
  const m = rates === undefined ? plain : withRates(plain, typeof rates === 'number' ? new Map(plain.params.map((q) => [q.name, rates])) : rates);
  if (!m.loss) throw new UsageError(`${file} declares no loss: the hierarchy's flow needs one`);
  const k = m.outputShape.reduce((a, b) => a * b, 1);
  const r = nth(m, order, { T, alpha, rtol });
  const warning = nonSmoothWarning(m, order);
  if (o.json)
    return emitJson({
      order, T, alpha, out: Array.from(r.out), trueOut: Array.from(r.trueOut!), error: r.error,
      K2: nest(r.K2, [k, k]), trueK2: nest(r.trueK2!, [k, k]), stats: r.stats,
      ...(r.testOut ? { testOut: Array.from(r.testOut), trueTestOut: Array.from(r.trueTestOut!), testError: r.testError } : {}),
      ...(warning ? { warnings: [warning] } : {}),
      ...(rates === undefined ? {} : { kernel: kernelName(m) }),
    });
  printWarnings(m, o.json);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  let dK = 0;
  for (let i = 0; i < k * k; i++) dK = Math.max(dK, Math.abs(r.K2[i]! - r.trueK2![i]!));
  out(table([
    ...summaryHeader(m),
    ['order p, α, T', `${order}, ${num(alpha)}, ${num(T)}`],
    ['kernel K2', kernelName(m)],
    ['α·h̃(T) (hierarchy)', vector(r.out)],
    ['α·h(w(T)) (flow)', vector(r.trueOut!)],
    ['error ‖h̃ − h‖', num(r.error!)],
    ...(r.testOut
      ? ([
          ['α·g̃(T) at test inputs (hierarchy)', vector(r.testOut)],
          ['α·g(w(T)) at test inputs (flow)', vector(r.trueTestOut!)],
          ['test error ‖g̃ − g‖', num(r.testError!)],
        ] as [string, string][])
      : []),
    ['max |K̃2 − K2| at T', num(dK)],
    ['steps', `${r.stats.hierarchySteps} (hierarchy), ${r.stats.flowSteps} (flow)`],
  ]));
}

function intList(name: string, raw: string | undefined, min: number): number[] {
  if (raw === undefined) throw new UsageError(`scaling needs ${name} v1,v2,…`);
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (x.trim() === '' || !Number.isInteger(v) || v < min) throw new UsageError(`${name} ${raw}: '${x}' is not an integer ≥ ${min}`);
    return v;
  });
}

async function cmdScaling(file: string, o: Common & { widths?: string; orders?: string; seeds?: string; dim?: string; T?: string; alpha?: string; plot?: string }) {
  const widths = intList('--widths', o.widths, 1);
  const orders = o.orders === undefined ? [2, 3, 4] : intList('--orders', o.orders, 2);
  for (const r of orders) parseOrder(String(r));
  const seeds = [...Array(intOption('--seeds', o.seeds, 1, 3)).keys()];
  const dim = o.dim ?? 'm';
  const T = o.T === undefined ? undefined : positive('--T', o.T, 0);
  const alpha = positive('--alpha', o.alpha, 1);
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.plot) checkOutputPath(o.plot, '--plot');
  const base = parseSet(o.set);
  const first = loadModel(file, { overrides: new Map([...base, [dim, widths[0]!]]), seed: 0 });
  if (!first.constants.has(dim)) throw new UsageError(`--dim ${dim}: the model has no dim or const named '${dim}'`);
  if (T !== undefined && !first.loss) throw new UsageError(`--T: ${file} declares no loss, so there is no flow to change the NTK`);
  const bar = progress('scaling', !o.json);
  const res = widthScaling({
    load: (width, seed) => loadModel(file, { overrides: new Map([...base, [dim, width]]), seed }),
    widths, orders, seeds, ...(T === undefined ? {} : { T, alpha }), onProgress: bar.update,
  });
  bar.done();
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    const quantities = res.fits.map((f) => f.quantity);
    const series = quantities.map((q) => {
      const ps = res.points.filter((p) => p.quantity === q);
      return { name: q === 'dK2' ? `‖K2(T) − K2(0)‖∞` : `‖${q.replace('K', 'K^(')})‖∞`, x: ps.map((p) => p.width), y: ps.map((p) => p.value), style: 'points' as const };
    });
    await writePlot(o.plot, { title: `width scaling of ${file}`, xLabel: dim, yLabel: 'sup norm', logX: true, logY: true, series });
  }
  if (o.json) return emitJson({ dim, widths, orders, seeds: seeds.length, T: T ?? null, points: res.points, fits: res.fits });
  const mean = (q: string, w: number) => {
    const ps = res.points.filter((p) => p.quantity === q && p.width === w);
    return ps.reduce((a, p) => a + p.value, 0) / ps.length;
  };
  const qs = res.fits.map((f) => f.quantity);
  const header = [dim, ...qs.map((q) => (q === 'dK2' ? '‖ΔK2‖∞' : `‖${q}‖∞`))];
  const lines = [header, ...widths.map((w) => [String(w), ...qs.map((q) => num(mean(q, w), 4))])];
  const wcol = header.map((_, j) => Math.max(...lines.map((l) => displayWidth(l[j]!))));
  out(lines.map((l) => l.map((c, j) => padStart(c, wcol[j]!)).join('  ')).join('\n'));
  out(`slopes of log(norm) against log(${dim}) over ${seeds.length} seed(s) (± standard error):`);
  for (const f of res.fits) out(`  ${f.quantity === 'dK2' ? 'ΔK2' : f.quantity}: ${num(f.slope, 3)}${f.stderr === null ? '' : ` ± ${num(f.stderr, 2)}`}`);
}

function parseTimes(raw: string | undefined, T: number): number[] {
  if (raw === undefined) return [];
  return raw.split(',').map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v) || v <= 0 || v > T) throw new UsageError(`--times ${raw}: '${x}' is not a time in (0, T = ${T}]`);
    return v;
  });
}

/** A positive number, or the name of a dim/const of the model (resolved per model). */
function constantOption(name: string, raw: string | undefined): number | string | null {
  if (raw === undefined) return null;
  // NaN and Infinity are values (bad ones), not names of consts: a usage error like -1.
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw) && !/^(nan|inf|infinity)$/i.test(raw)) return raw;
  return positive(name, raw, 0);
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
  /** commander's negated `--no-lip`: false skips the estimate. */
  lip?: boolean;
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
  const at = o.times === undefined ? [] : parseTimes(o.times, lr * steps).map((t) => Math.max(1, Math.round(t / lr)));
  const m = load(file, o);
  const bar = progress('descent', !o.json);
  const r = gradientDescent(m, { alpha, lr: rates, steps, at, onProgress: bar.update });
  bar.done();
  if (o.json)
    return emitJson({
      alpha, lr, steps, T: r.T, R0: r.R0, error: r.error, weightChange: r.weightChange, linWeightChange: r.linWeightChange,
      loss: r.loss, linLoss: r.linLoss, out: Array.from(r.out), linOut: Array.from(r.linOut), stability: r.stability,
      contraction: r.contraction, rates: r.rates, kernel: r.kernel, trajectory: r.trajectory, warnings: r.warnings,
    });
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
  ]));
}

/** E(t) of a flow against the bounds of the theory at every t of its trajectory (`flowPlotSpec`). */
async function plotFlow(path: string, file: string, r: FlowResult, nonSmooth: boolean) {
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
  const T = constantOf(m, constantOption('--T', o.T))!;
  if (o.plot && !/\.(svg|png)$/i.test(o.plot)) throw new UsageError(`--plot ${o.plot}: use a .svg or .png file`);
  if (o.plot) checkOutputPath(o.plot, '--plot');
  checkFlowStart(m, alpha, T);
  // A plot of E(t) needs the trajectory: 48 log-spaced times from T/10⁴ to T.
  const plotTimes = o.plot ? flowPlotTimes(T) : [];
  const userTimes = parseTimes(o.times, T);
  const times = [...userTimes, ...plotTimes];
  let lipDh = constantOf(m, constantOption('--lip-dh', o.lipDh));
  let lipH = constantOf(m, constantOption('--lip-h', o.lipH));
  let radius = constantOf(m, constantOption('--radius', o.radius));
  const method = (o.method ?? 'auto') as FlowMethod;
  // The accuracy check, a second independent solve, starts first: it runs on a worker thread
  // while this one estimates the Lipschitz constants and integrates the flow.
  const check = m.loss
    ? startFlowCheck({ program: m.program, overrides: [...parseSet(o.set)], seed: intOption('--seed', o.seed, 0, 0), alpha, T, rtol, method, ...(rates ? { rates: [...rates] } : {}) })
    : null;
  // Without --lip-h/--lip-dh, the certified upper bounds of `ntk lip` on a ball that holds the
  // whole trajectory: Proposition 3.1 gives ‖w(t) − w0‖ ≤ √(T R0)/α, unless --radius says otherwise.
  let lipEstimate: ReturnType<typeof lipschitz> | null = null;
  let lipSkipped: string | null = null;
  if (lipDh === null && lipH === null && o.lip !== false && m.loss?.kind === 'square') {
    const ball = radius ?? Math.sqrt(T * loss(m, { alpha })) / alpha;
    // The certified bounds' cost grows with the model's Hessian structure; past a budget of
    // stored entries the flow does not wait for them (and says how to get them).
    const entries = estimateEntries(m);
    if (entries > FLOW_LIP_ENTRIES) {
      lipSkipped = `no automatic Lipschitz estimate: its certified bounds would store about ${entries.toExponential(1)} derivative entries (the flow allows ${FLOW_LIP_ENTRIES.toExponential(0)}); run 'ntk lip ${file}${o.set.map((x) => ` --set ${x}`).join('')} --radius ${num(ball)}' (it may take minutes) and pass --lip-dh and --lip-h`;
    } else if (ball > 0) {
      radius = ball;
      try {
        lipEstimate = lipschitz(m, { radius, timeBudgetMs: 10_000 });
      } catch (e) {
        check?.cancel();
        throw e;
      }
      lipDh = lipEstimate.lipDh.upper;
      lipH = lipEstimate.lipH.upper;
    }
  }
  const bar = progress('flow', !o.json);
  let r: ReturnType<typeof flow>;
  try {
    r = flow(m, {
      alpha, T, times, rtol, lipDh, lipH, radius, method,
      accuracy: check === null,
      onProgress: (t) => bar.update(Math.round((1000 * t) / T), 1000),
    });
  } catch (e) {
    check?.cancel();
    throw e;
  }
  if (lipSkipped) r.warnings.push(lipSkipped);
  if (check) {
    // The check ran on the other core; an inline one only if it failed or took another method.
    const c = await check.result;
    const accuracy = 'failure' in c ? null : accuracyFrom(r, c);
    r.errorAccuracy = accuracy ?? accuracyFrom(r, flow(m, { alpha, T, rtol, method, check: true }));
  }
  const lipSource = lipEstimate ? 'estimated' : lipDh !== null || lipH !== null ? 'given' : null;
  const estimateJson = lipEstimate && {
    radius: lipEstimate.radius,
    lipH: { lower: lipEstimate.lipH.lower, upper: lipEstimate.lipH.upper, note: lipEstimate.lipH.note },
    lipDh: { lower: lipEstimate.lipDh.lower, upper: lipEstimate.lipDh.upper, note: lipEstimate.lipDh.note },
    time: lipEstimate.time.total,
  };
  bar.done();
  const b = r.bounds;
  if (o.plot) await plotFlow(o.plot, file, r, m.nonSmooth);
  if (o.json)
    return emitJson({
      alpha: r.alpha, T: r.T, R0: r.R0, kappa: b.kappa, lipDh: r.lipDh, lipH: r.lipH, radius: r.radius, lipSource, lipEstimate: estimateJson,
      error: r.error, errorAccuracy: r.errorAccuracy,
      bound: b.theorem12.value, sharpBound: b.theorem12Sharp.value, chizatBound: b.prop11.value, weightBound: b.prop31.value,
      boundNotes: { theorem12: b.theorem12.note, prop11: b.prop11.note },
      horizons: { theorem12: b.theorem12.horizon, prop11: b.prop11.horizon },
      weightChange: r.weightChange, linWeightChange: r.linWeightChange, maxWeightChange: r.maxWeightChange, stayedInBall: r.stayedInBall,
      loss: r.loss, linLoss: r.linLoss, out: Array.from(r.out), linOut: Array.from(r.linOut),
      ...(r.test ? { testOut: Array.from(r.test.out), linTestOut: Array.from(r.test.linOut), testError: r.test.error } : {}),
      trajectory: r.trajectory, method: r.method, stats: r.stats, kernel: r.kernel, warnings: r.warnings,
    });
  printWarnings(m, o.json);
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  const show = (x: { value: number | null; note: string | null }) => (x.value === null ? `n/a (${x.note})` : `${num(x.value)}${x.note ? `  (${x.note})` : ''}`);
  out(table([
    ...summaryHeader(m),
    ['α, T', `${num(alpha)}, ${num(T)}`],
    ['kernel', r.kernel.name],
    ['R0', num(r.R0)],
    ['E(T)', `${num(r.error)}${r.errorAccuracy === null ? '' : `  (± ${num(r.errorAccuracy, 2)})`}`],
    ['κ', b.kappa === null ? 'unknown (give --lip-dh)' : num(b.kappa)],
    ...(lipEstimate
      ? ([
          ['Lip(h), Lip(Dh)', `${lipH === null ? 'n/a' : num(lipH)}, ${lipDh === null ? 'n/a' : num(lipDh)}  (certified upper bounds on B(w0, ${num(lipEstimate.radius)}) by ntk lip; attained ${num(lipEstimate.lipH.lower)}, ${num(lipEstimate.lipDh.lower)})`],
          ...(lipEstimate.lipDh.upper === null && lipEstimate.lipDh.note ? [['  Lip(Dh) note', lipEstimate.lipDh.note]] : []),
        ] as [string, string][])
      : lipSource === 'given'
        ? ([['Lip(h), Lip(Dh)', `${lipH === null ? 'unknown' : num(lipH)}, ${lipDh === null ? 'unknown' : num(lipDh)}  (given)`]] as [string, string][])
        : []),
    ['Thm 1.2 bound', show(b.theorem12)],
    ['  sharper form', show(b.theorem12Sharp)],
    ['Prop 1.1 bound', show(b.prop11)],
    ['‖w(T) − w0‖', `${num(r.weightChange)}  (linearized ${num(r.linWeightChange)}; Prop 3.1 bound ${b.prop31.value === null ? 'n/a' : num(b.prop31.value)})`],
    ...(r.radius === null ? [] : [['in the ball', `${r.stayedInBall ? 'yes' : 'no'} (max ‖w(t) − w0‖ = ${num(r.maxWeightChange)}, ρ = ${num(r.radius)})`] as [string, string]]),
    ['loss at T', `${num(r.loss)}  (linearized ${num(r.linLoss)})`],
    ['α·h(w(T))', vector(r.out)],
    ['α·h̄(w̄(T))', vector(r.linOut)],
    ...(r.test
      ? ([
          [`α·${m.test!.name}(w(T))`, vector(r.test.out)],
          [`α·${m.test!.name}̄(w̄(T))`, vector(r.test.linOut)],
          ['E on test inputs', num(r.test.error)],
        ] as [string, string][])
      : []),
    ['solver', `${r.method}: ${r.stats.steps} steps (${r.stats.rejected} rejected), ${r.stats.rhsEvals} gradient evaluations`],
    ...r.trajectory.filter((p) => userTimes.includes(p.t) && p.t !== T).map((p) => [`E(${num(p.t)})`, num(p.error)] as [string, string]),
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
  workers?: string;
  out?: string;
  fresh?: boolean;
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
  // Check the model before starting any worker: with the first grid values, then with every
  // other value of each axis (a dim of 0 in the grid is a located error here, not a failed point).
  const first = Object.fromEntries(Object.entries(axes).map(([k, v]) => [k, v[0]!]));
  const seed = intOption('--seed', o.seed, 0, 0);
  loadModel(file, { overrides: new Map(Object.entries(first)), seed });
  for (const [name, values] of Object.entries(axes))
    for (const v of new Set(values.slice(1))) loadModel(file, { overrides: new Map(Object.entries({ ...first, [name]: v })), seed });
  const shared = {
    file, seed, ...(rtol === undefined ? {} : { rtol }),
    lipDh: constantOption('--lip-dh', o.lipDh), lipH: constantOption('--lip-h', o.lipH), radius: constantOption('--radius', o.radius),
    method: (o.method ?? 'auto') as 'auto',
    ...(horizon === undefined ? {} : { horizon }),
  };
  if (o.plan || o.slurm) return sweepToCluster({ alphas, Ts, axes, shared, ...(o.out ? { out: o.out } : {}) }, o);
  const bar = progress('sweep', !o.json);
  const outcome = await runSweep({
    file, alphas, Ts, axes,
    shared,
    workers: o.workers === undefined ? defaultWorkers() : intOption('--workers', o.workers, 1, 1),
    out: o.out ?? null,
    fresh: o.fresh === true,
    onRow: bar.update,
  });
  bar.done();
  if (o.plot) {
    const { writePlot } = await import('./plot.ts');
    const names = Object.keys(axes);
    const groups = new Map<string, typeof outcome.rows>();
    for (const r of outcome.rows) {
      const key = names.length ? names.map((n) => `${n} = ${r.set[n]}`).join(', ') : 'E(T)';
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const series = [...groups].map(([name, rs]) => {
      const sortedRows = [...rs].sort((a, b) => a.T / a.alpha - b.T / b.alpha);
      return { name, x: sortedRows.map((r) => r.T / r.alpha), y: sortedRows.map((r) => r.error), style: 'points' as const };
    });
    await writePlot(o.plot, { title: `E(T) of ${file}`, xLabel: 'T/α', yLabel: 'E(T)', logX: true, logY: true, series });
  }
  if (o.json) return emitJson({ rows: outcome.rows, fitTime: outcome.fitTime, fitKappa: outcome.fitKappa, resumed: outcome.resumed });
  // The flows' warnings, each once, with the points where it came up.
  const where = new Map<string, string[]>();
  for (const r of outcome.rows)
    for (const w of r.warnings ?? []) where.set(w, [...(where.get(w) ?? []), [`α=${r.alpha}`, `T=${r.T}`, ...Object.entries(r.set).map(([k, v]) => `${k}=${v}`)].join(' ')]);
  for (const [w, points] of where) process.stderr.write(`warning: ${w} (at ${points.length > 3 ? `${points.slice(0, 3).join('; ')} and ${points.length - 3} more` : points.join('; ')})\n`);
  if (outcome.resumed) process.stderr.write(`resumed: ${outcome.resumed} points read from ${o.out}\n`);
  out(formatSweep(outcome, Object.keys(axes).filter((n) => n !== horizon)));
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
  const raw = constantOption('--radius', o.radius);
  const starts = intOption('--starts', o.starts, 1, 6);
  const maxSteps = intOption('--steps', o.steps, 1, 60);
  const budgetS = positive('--budget', o.budget, 30);
  const m = load(file, o);
  if (typeof raw === 'string' && !m.constants.has(raw)) throw new UsageError(`--radius ${raw}: neither a number nor a dim or const of the model`);
  const radius = constantOf(m, raw)!;
  if (!(Number.isFinite(radius) && radius > 0)) throw new UsageError(`--radius ${o.radius}: expected a positive number, got ${radius}`);
  let r;
  try {
    r = lipschitz(m, { radius, starts, maxSteps, seed: intOption('--seed', o.seed, 0, 0), lowerOnly: o.lowerOnly === true, timeBudgetMs: budgetS * 1000 });
  } catch (e) {
    if (e instanceof LipUsageError) throw new UsageError(`--radius ${o.radius}: ${e.message}`);
    throw e;
  }
  for (const [what, est] of [['Lip(h)', r.lipH], ['Lip(Dh)', r.lipDh]] as const)
    if (!Number.isFinite(est.lower)) checkFinite(`the lower bound of ${what}`, [est.lower], m, 'check the initial weights, the radius, and functions that blow up on the ball');
  const est = (e: typeof r.lipH) => ({
    lower: e.lower, upper: e.upper, converged: e.converged, note: e.note,
    argmax: Array.from(e.argmax.w), direction: Array.from(e.argmax.u), outputDirection: Array.from(e.argmax.z),
  });
  if (o.json)
    return emitJson({
      radius, lipH: est(r.lipH), lipDh: est(r.lipDh), time: r.time, evaluations: r.evaluations,
      enclosure: r.enclosure && { blocks: r.enclosure.blocks, largestBlock: r.enclosure.largestBlock, relaxation: r.enclosure.relaxation, lipHMethod: r.enclosure.lipHMethod, entries: r.enclosure.entries },
    });
  // Not the generic non-smooth warning: whether Lip(Dh) has a bound depends on the ball, and the
  // notes below say it.
  for (const d of m.diagnostics) process.stderr.write(formatDiagnostic(d, m.source) + '\n');
  if (m.nonSmooth && r.lipDh.upper !== null)
    process.stderr.write('note: the model uses a non-smooth function, but its kinks stay outside this ball: h is smooth there\n');
  const show = (e: typeof r.lipH) =>
    `${num(e.lower)} ≤ · ≤ ${e.upper === null ? 'no certified bound' : num(e.upper)}${e.upper !== null && e.lower > 0 ? `  (ratio ${num(e.upper / e.lower, 3)})` : ''}${e.converged ? '' : '  [search did not converge]'}`;
  const rows: [string, string][] = [
    ...summaryHeader(m),
    ['ball', `B(w0, ρ), ρ = ${num(radius)}`],
    ['Lip(h)', show(r.lipH)],
    ['  attained at', `‖w − w0‖ = ${num(dist(r.lipH.argmax.w, m.w0))}${vectorHint(r.lipH.argmax.w)}`],
    ['Lip(Dh)', show(r.lipDh)],
    ['  attained at', `‖w − w0‖ = ${num(dist(r.lipDh.argmax.w, m.w0))}${vectorHint(r.lipDh.argmax.w)}`],
    ['time', `${num(r.time.total / 1000, 3)} s (lower ${num(r.time.lower / 1000, 3)} s, upper ${num(r.time.upper / 1000, 3)} s)`],
  ];
  for (const [what, e] of [['Lip(h)', r.lipH], ['Lip(Dh)', r.lipDh]] as const) if (e.note) rows.push([`note on ${what}`, e.note]);
  out(table(rows));
}

const dist = (a: Float64Array, b: Float64Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));
const vectorHint = (w: Float64Array) => (w.length <= 4 ? `  (w = ${vector(w)})` : '');

function cmdPrint(file: string, o: Common & { derivative?: boolean }) {
  const m = load(file, o);
  const text = printModel(m, { derivative: o.derivative === true });
  if (o.json) return emitJson({ model: m.outputName, text });
  out(text);
}

// ---------------------------------------------------------------- wiring

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON object instead of a summary')
    .option('--set <NAME=VALUE>', 'override a dim or const (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--seed <S>', 'seed of random initializers (default 0)')
    .option('--debug', 'show stack traces of internal errors')
    .option('--max-memory <SIZE>', 'memory budget for large arrays, e.g. 2G or 512M (default: half the memory available)');
}

export function buildProgram(): Command {
  const program = new Command('ntk')
    .description('Tangent kernels, Lipschitz estimates and the NTK approximation for models in the .ntk language')
    .version('0.1.0')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const wrap =
    <T extends Common>(f: (file: string, o: T) => void) =>
    (file: string, o: T) =>
      f(file, o);
  common(program.command('check').argument('<file>').description('parse and check a model: shapes, names, data')).action(wrap(cmdCheck));
  common(program.command('eval').argument('<file>').description('h(w0) and the initial loss R0'))
    .option('--alpha <A>', 'scale α of the model in R0 = R(α·h(w0))', undefined)
    .action(wrap(cmdEval));
  common(program.command('jacobian').argument('<file>').description('the Jacobian Dh(w0), k × p'))
    .addOption(new Option('--mode <MODE>', 'forward or reverse mode').choices(['auto', 'forward', 'reverse']).default('auto'))
    .action(wrap(cmdJacobian));
  common(program.command('kernel').argument('<file>').description('the tangent kernel of order r on the outputs (r = 2: Dh·Dhᵀ; r ≥ 3: the Neural Tangent Hierarchy)'))
    .option('--order <r>', `order of the kernel, 2 (the NTK) to ${MAX_ORDER}`, '2')
    .option('--slice <a1,…,aj>', 'fix the first j indices (0-based): K^(r)(a1..aj, ·, …, ·), k^(r−j) entries')
    .option('--structure <s>', 'auto (default), rows (per-row passes of a row-separable model), dense (the Jacobian), products (NTK-vector products; order 2)')
    .option('--out <K.npy>', 'write the kernel to a .npy file (numpy.load) instead of printing it')
    .option('--tiles <B>', 'the NTK in B×B tiles (upper triangle computed, the rest by symmetry): one tile with --tile, all into --out, or a plan with --plan/--slurm')
    .option('--tile <i,j>', 'with --tiles: compute only tile (i, j), i ≤ j (rows of block i, columns of block j)')
    .action(wrap(cmdKernel));
  slurmOptions(program.commands.find((c) => c.name() === 'kernel')!);
  common(program.command('derive').argument('<file>').description('the kernel of order r as mathematics (plain text, or LaTeX with --latex)'))
    .option('--order <r>', `order of the kernel, 2 to ${MAX_ORDER}`, '2')
    .option('--latex', 'print LaTeX (an aligned environment) instead of plain text')
    .action(wrap(cmdDerive));
  common(program.command('print').argument('<file>').description('the model (and with --derivative its derivative graphs) as mathematics'))
    .option('--derivative', 'also print Dh·dw and Dhᵀ·u')
    .action(wrap(cmdPrint));
  common(program.command('nth').argument('<file>').description('the truncated Neural Tangent Hierarchy of order p (eq. 2.7) next to the true flow'))
    .option('--order <p>', `truncation order p, 2 (the linearized flow) to ${MAX_ORDER}`, '2')
    .option('--T <T>', 'the time horizon')
    .option('--alpha <A>', 'the scale α of the model (default 1)')
    .option('--rtol <r>', 'relative tolerance of both integrations (default 1e-10)')
    .option('--lr <η|W=η1,v=η2>', 'the flow dw/dt = −H∇L with rates H (one η for all, or per parameter: the others frozen)')
    .action(wrap(cmdNth));
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
  common(program.command('lip').argument('<file>').description('Lipschitz constants of h and Dh on the ball B(w0, ρ): attained lower bounds and certified upper bounds'))
    .option('--radius <ρ>', 'the radius ρ of the ball: a number or a const of the model')
    .option('--starts <N>', 'starting points of the search for the sup (default 6)')
    .option('--steps <N>', 'ascent steps per start (default 60)')
    .option('--budget <seconds>', 'wall-clock budget of each search for the sup (default 30); past it: converged false')
    .option('--lower-only', 'skip the certified upper bounds')
    .action(wrap(cmdLip));
  common(program.command('flow').argument('<file>').description('the gradient flow of α·h next to its linearization: E(T) against the bounds'))
    .option('--alpha <A>', 'the scale α of the model (default 1)')
    .option('--T <T>', 'the time horizon')
    .option('--times <t1,t2,…>', 'also report E(t) at these times')
    .addOption(new Option('--method <M>', 'ODE method').choices(FLOW_METHODS).default('auto'))
    .option('--rtol <r>', 'relative tolerance on the deviation from the linearized flow (default 1e-10; 1e-5 for exponential, 1e-6 for etdrk4)')
    .option('--lip-dh <L>', 'a known Lip(Dh) on the ball (for κ and the bounds): a number or a const of the model')
    .option('--lip-h <L>', 'a known Lip(h) on the ball (for Proposition 1.1): a number or a const')
    .option('--radius <ρ>', 'the radius ρ of the ball B(w0, ρ) (for the validity horizons): a number or a const')
    .option('--no-lip', 'without --lip-h/--lip-dh, do not estimate them (by default: ntk lip on the ball of radius √(T·R0)/α, Prop. 3.1)')
    .option('--lr <η|W=η1,v=η2>', 'gradient descent with this learning rate (with --steps); per-parameter rates (the others frozen): with --steps gradient descent, without it the flow dw/dt = −H∇L')
    .option('--steps <N>', 'the number of gradient descent steps')
    .option('--plot <file.svg|file.png>', 'E(t) against the bounds over time, log-log')
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
    .addOption(new Option('--method <M>', 'ODE method').choices(FLOW_METHODS).default('auto'))
    .option('--rtol <r>', 'relative tolerance (default 1e-10)')
    .option('--lip-dh <L>', 'a known Lip(Dh): a number, or a const of the model that follows the grid')
    .option('--lip-h <L>', 'a known Lip(h): a number or a const')
    .option('--radius <ρ>', 'the radius of the ball: a number or a const')
    .option('--workers <N>', 'worker threads (default: one per core)')
    .option('--out <file.csv|file.json>', 'write the results there after every point; a rerun resumes from it')
    .option('--fresh', 'ignore (and overwrite) an existing --out')
    .option('--plot <file.svg|file.png>', 'a log-log plot of E(T) against T/α')
    .option('--chunk <N>', 'with --plan/--slurm: grid points per task (default 1, more past 1000 points)')
    .option('--max-memory <SIZE>', 'memory budget for large arrays, e.g. 2G or 512M (default: half the memory available)')
    .action((file: string, o: SweepCli) => cmdSweep(file, o));
  program
    .command('lsp')
    .description('a language server for .ntk files on stdin/stdout (diagnostics, hover, go-to-definition, completion)')
    .option('--stdio', 'talk over stdin/stdout (the default and only transport; accepted for editors that pass it)')
    .action(async () => (await import('./lsp.ts')).startLanguageServer());
  slurmOptions(program.commands.find((c) => c.name() === 'sweep')!);
  registerLimitCommands(program, common);
  // One memory budget for the whole run (runtime/memory.ts), set before any command runs.
  program.hook('preAction', (_p, cmd) => {
    const raw = cmd.opts().maxMemory as string | undefined;
    const bytes = raw === undefined ? null : parseBytes(raw);
    if (raw !== undefined && bytes === null) throw new UsageError(`--max-memory ${raw}: expected a size such as 2G, 512M or 1000000 (bytes)`);
    setMemoryBudget(bytes);
  });
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  try {
    await (isPlanCommand(argv) ? buildPlanProgram() : buildProgram()).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError || e instanceof RateError || e instanceof EarlyUsageError || e instanceof SweepUsageError || e instanceof KernelUsageError || e instanceof BackendUnavailableError || e instanceof LimitUsageError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NtkError) {
      const sources = new Map<string, string | undefined>();
      const sourceOf = (f: string) => {
        if (!sources.has(f)) {
          try {
            sources.set(f, readFileSync(f, 'utf8'));
          } catch {
            sources.set(f, undefined);
          }
        }
        return sources.get(f);
      };
      for (const d of e.diagnostics) process.stderr.write(formatDiagnostic(d, sourceOf(d.file)) + '\n');
      if (json) out(JSON.stringify({ ok: false, diagnostics: e.diagnostics.map(diagJson) }));
      return ['--set', '--seed', '--width', '--kernel'].includes(e.diagnostics[0]?.file ?? '') ? 2 : 1;
    }
    if (e instanceof OutputPathError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof MemoryError || e instanceof FlowError || e instanceof ClusterError || e instanceof WriteError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(`ntk: internal error: ${err.message}\n${debug ? `${err.stack}\n` : '(run with --debug for a stack trace; please report it)\n'}`);
    if (json) out(JSON.stringify({ ok: false, internalError: err.message }));
    return 3;
  }
}

