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
  evaluate,
  formatDiagnostic,
  loadModel,
  loss,
  ntk,
  jacobian,
  printModel,
  type Diagnostic,
  type Model,
} from '../index.ts';
import { matrix, nest, num, progress, table, vector } from './format.ts';

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
  if (!Number.isInteger(v) || v < min) throw new UsageError(`${name} ${raw}: expected an integer ≥ ${min}`);
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
  ];
}

function warnings(m: Model): Diagnostic[] {
  const ds = [...m.diagnostics];
  if (m.nonSmooth)
    ds.push({ severity: 'warning', file: m.file, span: null, message: 'the model uses a non-smooth function (relu, abs or sign): second derivatives are zero almost everywhere and Lip(Dh) has no finite bound' });
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
  if (o.json) return emitJson({ ok: true, params: m.paramCount, outputs: k, diagnostics: warnings(m).map(diagJson) });
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
  if (o.json) return emitJson({ h: nest(h, m.outputShape), R0, alpha, params: m.paramCount, outputs: k });
  printWarnings(m, o.json);
  out(table([...summaryHeader(m), ['h(w0)', vector(h)], ['‖h(w0)‖', num(Math.hypot(...h))], ['R0', R0 === null ? 'no loss declared' : `${num(R0)}  (loss of α·h(w0), α = ${num(alpha)})`]]));
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

function cmdKernel(file: string, o: Common & { order?: string }) {
  const order = intOption('--order', o.order, 2, 2);
  if (order > 2) throw new UsageError(`--order ${order}: kernels of order 3 and more (the Neural Tangent Hierarchy) are not implemented yet; use --order 2`);
  const m = load(file, o);
  const bar = progress('kernel', !o.json);
  const K = ntk(m, m.w0, { onProgress: bar.update });
  bar.done();
  checkFinite('K(w0)', K.data, m, 'check the initial weights and data scale');
  if (o.json) return emitJson({ order, shape: [K.rows, K.cols], K: nest(K.data, [K.rows, K.cols]) });
  printWarnings(m, o.json);
  let trace = 0;
  for (let i = 0; i < K.rows; i++) trace += K.data[i * K.rows + i]!;
  out(`${table([...summaryHeader(m), ['kernel', `K^(2) = Dh·Dhᵀ, ${K.rows} × ${K.cols}`], ['trace', num(trace)]])}\n${matrix(K.data, K.rows, K.cols)}`);
}

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
    .option('--debug', 'show stack traces of internal errors');
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
  common(program.command('kernel').argument('<file>').description('the tangent kernel of order r on the outputs (r = 2: Dh·Dhᵀ)'))
    .option('--order <r>', 'order of the kernel (2 = the NTK)', '2')
    .action(wrap(cmdKernel));
  common(program.command('print').argument('<file>').description('the model (and with --derivative its derivative graphs) as mathematics'))
    .option('--derivative', 'also print Dh·dw and Dhᵀ·u')
    .action(wrap(cmdPrint));
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError) {
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
      return e.diagnostics[0]?.file === '--set' ? 2 : 1;
    }
    if (e instanceof MemoryError) {
      process.stderr.write(`ntk: error: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(`ntk: internal error: ${err.message}\n${debug ? `${err.stack}\n` : '(run with --debug for a stack trace; please report it)\n'}`);
    return 3;
  }
}

