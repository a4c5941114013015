/**
 * The reports of the commands that look at a model at w0: `check`, `eval`, `jacobian`, `kernel`,
 * `derive` and `print`. Each returns the object `ntk COMMAND --json` prints, under the same keys
 * (tensors as nested arrays); the CLI formats its summary from the same object.
 */
import type { Model } from '../ir/model.ts';
import { evaluate, evaluateTest, evaluator, testLoss, loss, jacobian, kernel, describeKernel, printModel } from '../api.ts';
import { nonSmoothWarning, type KernelTensor } from '../nth/hierarchy.ts';
import { assertFinite, diagnosticJson, modelWarnings, nest, OptionError, outputCount, type DiagnosticJson } from './common.ts';
import { checkOut, guardResult, outPaths, vectorArray, withFiles, type OutOptions } from './out.ts';
import { NonFiniteKernelError, type GramStructure } from '../nth/gram.ts';
import { NpyWriter } from '../io/npy.ts';
import { NtkError } from '../parser/diagnostics.ts';
import type { WrittenFile } from '../io/arrays.ts';
import { resultLimit } from '../io/memory.ts';
import { moreTiles, tileBytes, tileCost } from '../nth/tiles.ts';
import { isScalarModel, kernelClosedForm, modelClosedForms, type ClosedForm, type ModelClosedForms } from '../symbolic/closed-form.ts';

/** `ntk check`: the model elaborates; its sizes and warnings. */
export interface CheckReport {
  ok: true;
  /** p, the number of weights. */
  params: number;
  /** k, the number of outputs of h. */
  outputs: number;
  /** kt, the number of test outputs (only with a `test` declaration). */
  testOutputs?: number;
  diagnostics: DiagnosticJson[];
}

/**
 * The report of `ntk check`.
 * @example checkReport(loadModel('examples/converse.ntk')) // { ok: true, params: 1, outputs: 1, diagnostics: [] }
 */
export function checkReport(m: Model): CheckReport {
  // testOutputs (kt) only when the model declares test outputs, so that other models' keys are unchanged.
  const test = m.test ? { testOutputs: outputCount({ outputShape: m.test.shape } as Model) } : {};
  return { ok: true, params: m.paramCount, outputs: outputCount(m), ...test, diagnostics: modelWarnings(m).map(diagnosticJson) };
}

/** `ntk eval`: h(w0), the initial loss, and with a `test` declaration the test outputs. */
export interface EvalReport {
  /** h(w0), shaped like the output. */
  h: unknown;
  /** R(α·h(w0)), null without a loss. */
  R0: number | null;
  alpha: number;
  params: number;
  outputs: number;
  /** g(w0) on the held-out inputs, its size kt, and ½‖α·g(w0) − y_t‖² (null without a target). */
  testH?: unknown;
  testOutputs?: number;
  testLoss?: number | null;
}

/**
 * The report of `ntk eval`; throws a model error (exit 1) when h(w0) or R0 is not finite.
 * @example evalReport(loadModel('examples/converse.ntk'), { alpha: 1 }).R0 // 0.5
 */
export function evalReport(m: Model, opts: { alpha?: number } = {}): EvalReport {
  const alpha = opts.alpha ?? 1;
  const h = evaluate(m);
  assertFinite('h(w0)', h, m, 'check the initial weights and data scale, and functions like log or sqrt at non-positive values');
  const R0 = m.loss ? loss(m, { alpha }) : null;
  if (R0 !== null && !Number.isFinite(R0)) assertFinite('R0', [R0], m, 'check the loss and the target');
  // The test outputs g(w0) on held-out inputs, and their square loss ½‖α·g(w0) − y_t‖² with a target.
  const g = m.test ? evaluateTest(m) : null;
  if (g) assertFinite(`${m.test!.name}(w0)`, g, m, 'check the held-out data and the initial weights');
  const tLoss = m.test ? testLoss(m, { alpha }) : null;
  const test = m.test ? { testH: nest(g!, m.test.shape), testOutputs: g!.length, testLoss: tLoss } : {};
  return { h: nest(h, m.outputShape), R0, alpha, params: m.paramCount, outputs: h.length, ...test };
}

/**
 * `ntk jacobian`: Dh(w0) as a k × p nested array, and its shape; with `out`, instead of J the
 * file written (`files`) and ‖Dh‖_F.
 */
export interface JacobianReport {
  J?: unknown;
  shape: [number, number];
  /** ‖Dh(w0)‖_F (with `out`: the summary). */
  frobenius?: number;
  files?: WrittenFile[];
}

/**
 * The report of `ntk jacobian` (forward or reverse mode, or the cheaper: 'auto'). With `out`
 * the Jacobian goes to that file (.npy, .csv or .json): whole when it fits half the memory
 * budget, else by blocks of rows in reverse mode, each written as it is computed — never held
 * whole. Refuses (MemoryError) a Jacobian that would not fit where it goes, suggesting `--out`.
 * @example jacobianReport(loadModel('examples/converse.ntk')).J // [[0.1]]
 */
export function jacobianReport(m: Model, opts: { mode?: 'auto' | 'forward' | 'reverse'; onProgress?: (done: number, total: number) => void } & OutOptions = {}): JacobianReport {
  const k = outputCount(m), p = m.paramCount;
  const hint = 'check the initial weights, and functions whose derivative blows up (sqrt or log near 0)';
  const what = `the Jacobian Dh(w0) (${k} × ${p})`;
  const mode = opts.mode ?? 'auto';
  const progress = opts.onProgress ? { onProgress: opts.onProgress } : {};
  // By blocks of rows (reverse mode) when J would take more than half of what a result may.
  const rowsPerBlock = Math.max(1, Math.floor(resultLimit() / 2 / (8 * Math.max(1, p))));
  const blocked = opts.out && mode !== 'forward' && rowsPerBlock < k;
  guardResult('jacobian', opts, {
    what: blocked ? `a block of ${rowsPerBlock} rows of ${what}` : what, values: blocked ? rowsPerBlock * p : k * p,
    // to a file, reverse mode holds one block of rows
    ...(mode !== 'forward' ? { fileValues: Math.min(k, rowsPerBlock) * p } : {}),
    smaller: opts.out && mode === 'forward' ? 'drop --mode forward: reverse mode writes the Jacobian by blocks of rows' : 'take fewer outputs or parameters (--set), or raise --max-memory',
  });
  if (!opts.out) {
    const J = jacobian(m, m.w0, { mode, ...progress });
    assertFinite('Dh(w0)', J.data, m, hint);
    return { J: nest(J.data, [J.rows, J.cols]), shape: [J.rows, J.cols] };
  }
  let fro = 0;
  const account = (block: Float64Array) => {
    assertFinite('Dh(w0)', block, m, hint);
    for (let i = 0; i < block.length; i++) fro += block[i]! * block[i]!;
    return block;
  };
  const ev = evaluator(m);
  const data = blocked
    ? (function* () {
        for (let r0 = 0; r0 < k; r0 += rowsPerBlock) {
          const r1 = Math.min(k, r0 + rowsPerBlock);
          yield account(ev.jacobian(m.w0, { rows: [r0, r1], mode: 'reverse' }));
          opts.onProgress?.(r1, k);
        }
      })()
    : account(jacobian(m, m.w0, { mode, ...progress }).data);
  const r = withFiles('jacobian', opts.out, { shape: [k, p] as [number, number], J: null }, [{ key: 'J', shape: [k, p], data }]);
  return { shape: r.shape, frobenius: Math.sqrt(fro), files: r.files };
}

/** `ntk kernel --order r`: K^(r)(w0), or a slice of it, and how it was computed. */
export interface KernelReport {
  order: number;
  shape: number[];
  K: unknown;
  /** The fixed leading indices (0-based). */
  slice: number[];
  structure: KernelTensor['structure'];
  /** With structure 'gram': the parameters factored as matrix-vector uses and those taken by explicit gradients. */
  gram?: GramStructure;
  warnings?: string[];
}

/** The options of `kernelReport` and `kernelFileReport`. */
export interface KernelReportOptions {
  order: number;
  slice?: number[];
  structure?: 'auto' | KernelTensor['structure'];
  /** The entries' progress, in thousandths (`KernelOptions.onProgress`). */
  onProgress?: (done: number, total: number) => void;
  /** What runs before the entries of K^(r ≥ 3): the graph as it grows, its plan (`KernelOptions.onStatus`). */
  onStatus?: (what: string, running?: boolean) => void;
  /** The report will be printed as JSON (its text counts in the memory check). */
  json?: boolean;
}

/**
 * The report of `ntk kernel`: the kernel of order r at w0 (`kernel`), with a slice's indices
 * checked against the outputs (OptionError) and its entries against NaN (a model error).
 * Refuses (MemoryError) before computing a kernel whose report (or JSON text) would not fit,
 * naming `--out`, or `--tiles B --out K.npy` for an NTK too large to hold.
 * @example kernelReport(loadModel('examples/converse.ntk'), { order: 3 }).K // 4·(0.1)²·… as a number
 */
export function kernelReport(m: Model, opts: KernelReportOptions): KernelReport {
  const K = kernelChecked(m, opts, { json: opts.json === true });
  return { order: opts.order, shape: K.shape, K: nest(K.data, K.shape), slice: K.slice, structure: K.structure, ...(K.gram ? { gram: K.gram } : {}), ...(K.warnings[0] ? { warnings: [K.warnings[0]] } : {}) };
}

/** `ntk kernel … --out FILE`: where the kernel went and its summary (the keys of `kernelReport` but K). */
export interface KernelFileReport extends Omit<KernelReport, 'K'> {
  /** The file written (its path; `files` says its shape and dtype). */
  out: string;
  files: WrittenFile[];
  /** max |K| and ‖K‖_F over all entries; the trace of a whole NTK. */
  maxAbs: number;
  frobenius: number;
  trace?: number;
}

/**
 * `ntk kernel … --out FILE.npy|.csv|.json`: the kernel written to the file (atomically, streamed
 * from the one copy held: never a second copy nor its whole text) and its summary instead of its
 * entries. Refuses (MemoryError) before any work a kernel that would not fit even once, naming
 * `--tiles B --out K.npy` for the NTK (`kernelTensor` names the slice for orders ≥ 3). A whole
 * NTK into a `.npy` on the Gram path (a row-separable model, `nth/gram.ts`) is streamed into the
 * file panel by panel and never held at all: the process holds the per-row factors and one panel.
 * @example kernelFileReport(loadModel('examples/mlp.ntk'), 'K.npy', { order: 2 }).files[0].shape // [256, 256]
 */
export function kernelFileReport(m: Model, path: string, opts: KernelReportOptions): KernelFileReport {
  checkOut('kernel', path);
  const k = outputCount(m);
  const whole = opts.order === 2 && (opts.slice ?? []).length === 0;
  // a whole NTK into a .npy: the file is opened first, so that the Gram path can stream into it
  const npy = whole && /\.npy$/i.test(path) ? NpyWriter.create(outPaths('kernel', path)[0]!, [k, k]) : null;
  let K: KernelTensor;
  try {
    K = kernelChecked(m, opts, { out: path }, npy ?? undefined);
    if (npy && !K.streamed) npy.write(0, K.data);
    npy?.commit();
  } catch (e) {
    npy?.abort();
    if (e instanceof NonFiniteKernelError)
      throw new NtkError([{ severity: 'error', file: m.file, span: null, message: `K^(${opts.order})(w0) is ${e.value} at entry ${e.index}`, hint: 'check the initial weights and data scale' }]);
    throw e;
  }
  let stats = K.stats;
  if (!stats) {
    let maxAbs = 0, fro = 0, trace = 0;
    for (let i = 0; i < K.data.length; i++) {
      const x = K.data[i]!;
      maxAbs = Math.max(maxAbs, Math.abs(x));
      fro += x * x;
    }
    if (whole) for (let a = 0; a < k; a++) trace += K.data[a * k + a]!;
    stats = { maxAbs, frobenius: Math.sqrt(fro), trace };
  }
  const files = npy ? [{ key: 'K', path: npy.path, shape: [k, k], dtype: 'float64' as const }] : withFiles('kernel', path, {}, [vectorArray('K', K.data, K.shape)]).files;
  return {
    order: opts.order, shape: K.shape, out: path, files, slice: K.slice, structure: K.structure, ...(K.gram ? { gram: K.gram } : {}),
    maxAbs: stats.maxAbs, frobenius: stats.frobenius, ...(whole ? { trace: stats.trace } : {}), ...(K.warnings[0] ? { warnings: [K.warnings[0]] } : {}),
  };
}

/**
 * The kernel of `kernelReport` and `kernelFileReport` after the options' checks (OptionError)
 * and the memory check of where it goes (`out`: a file; else the report, or its JSON text),
 * its entries checked against NaN.
 */
function kernelChecked(m: Model, opts: KernelReportOptions, sink: OutOptions, npy?: NpyWriter): KernelTensor {
  const { order } = opts;
  const slice = opts.slice ?? [];
  const structure = opts.structure ?? 'auto';
  if (structure === 'products' && order !== 2) throw new OptionError(`--structure products (NTK-vector products) computes the NTK: it needs --order 2, not ${order}`);
  if (structure === 'gram' && order !== 2) throw new OptionError(`--structure gram (Gram products) computes the NTK: it needs --order 2, not ${order}`);
  if (slice.length > order - 1) throw new OptionError(`--slice ${slice.join(',')}: a kernel of order ${order} has ${order} indices; fix at most ${order - 1}`);
  const k = outputCount(m);
  const bad = slice.find((a) => a >= k);
  if (bad !== undefined) throw new OptionError(`--slice ${slice.join(',')}: index ${bad} is out of range: the model has ${k} outputs (0..${k - 1})`);
  const values = k ** (order - slice.length);
  const ntk = order === 2 && slice.length === 0;
  // The kernel itself too large: the NTK in tiles; K^(r ≥ 3) is refused by kernelTensor, which names the slice.
  if (ntk || values * 8 <= resultLimit())
    guardResult('kernel', sink, {
      what: `K^(${order}) (${k}^${order - slice.length} = ${values} entries)`, values,
      smaller: ntk ? tilesFix(m, k) : `fix leading indices with --slice a1,…,aj (k^(${order} − j) entries)`,
    });
  // npy: a whole NTK's file, which the Gram path streams into (then K.data is empty and K.streamed)
  const K = kernel(m, order, { slice, structure, ...(npy ? { out: npy } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.onStatus ? { onStatus: opts.onStatus } : {}) });
  if (!K.streamed) assertFinite(`K^(${order})(w0)`, K.data, m, 'check the initial weights and data scale');
  return K;
}

/** The `--tiles B --out K.npy` that fits (`moreTiles`, by the tiles' method `tileCost`), or what to do when none does. */
function tilesFix(m: Model, k: number): string {
  const cost = tileCost(m, k, m.paramCount), B = moreTiles(k, cost), c = Math.ceil(k / B);
  const from = cost.by === 'gram' ? 'Gram factors' : 'Jacobian rows';
  return tileBytes(cost, c, c, false) <= resultLimit()
    ? `compute it in tiles: --tiles ${B} --out K.npy (one tile and its ${from} in memory at a time)`
    : `even one row of the ${from === 'Gram factors' ? 'Gram factors' : 'Jacobian'} does not fit: raise --max-memory, or take a smaller model`;
}

/** `ntk derive --order r`: the kernel as mathematics, plain and LaTeX, and what its arguments are. */
export interface DeriveReport {
  order: number;
  outputs: number;
  /** 'rows' (a function of data rows), 'vectors' (an r-linear form of index vectors u_i) or 'none' (k = 1). */
  form: 'rows' | 'vectors' | 'none';
  text: string;
  latex: string;
  /**
   * Scalar models only (one weight, one output): K^(r)(w) simplified by mathjs, text and LaTeX
   * (null when its expression is too long to simplify quickly, `MAX_CLOSED_FORM_TEXT`).
   */
  closedForm?: ClosedForm | null;
  warnings?: string[];
}

/**
 * The report of `ntk derive` (`describeKernel` in both notations; for a scalar model also the
 * closed form by mathjs, which is why it is async: mathjs is loaded on first use).
 * @example (await deriveReport(loadModel('examples/converse.ntk'), { order: 3 })).text // "K3 = 4*(0.1 + 2*w)^2"
 */
export async function deriveReport(m: Model, opts: { order: number }): Promise<DeriveReport> {
  const { order } = opts;
  const plain = describeKernel(m, order);
  const latex = describeKernel(m, order, { latex: true }).text;
  const warning = nonSmoothWarning(m, order);
  const closed = isScalarModel(m) ? await kernelClosedForm(m, order) : undefined;
  return {
    order, outputs: outputCount(m), form: plain.form, text: plain.text, latex,
    ...(closed !== undefined ? { closedForm: closed } : {}),
    ...(warning ? { warnings: [warning] } : {}),
  };
}

/** `ntk print`: the model (with `derivative`, also its derivative graphs) as text. */
export interface PrintReport {
  model: string;
  text: string;
  /**
   * With `derivative`, for scalar models only (one weight, one output): h(w) and dh/dw simplified
   * by mathjs, text and LaTeX (each null when too long to simplify quickly).
   */
  closedForm?: ModelClosedForms;
}

/**
 * The report of `ntk print` (`printModel`; with `derivative` on a scalar model also the closed
 * forms by mathjs, which is why it is async: mathjs is loaded on first use).
 * @example (await printReport(loadModel('examples/converse.ntk'), { derivative: true })).closedForm?.dh?.text // "2 * w + 1 / 10"
 */
export async function printReport(m: Model, opts: { derivative?: boolean } = {}): Promise<PrintReport> {
  const derivative = opts.derivative === true;
  const closed = derivative ? await modelClosedForms(m) : null;
  return { model: m.outputName, text: printModel(m, { derivative }), ...(closed ? { closedForm: closed } : {}) };
}
