/**
 * The reports of the commands that look at a model at w0: `check`, `eval`, `jacobian`, `kernel`,
 * `derive` and `print`. Each returns the object `ntk COMMAND --json` prints, under the same keys
 * (tensors as nested arrays); the CLI formats its summary from the same object.
 */
import type { Model } from '../ir/model.ts';
import { evaluate, evaluateTest, testLoss, loss, jacobian, kernel, describeKernel, printModel } from '../api.ts';
import { nonSmoothWarning, type KernelTensor } from '../nth/hierarchy.ts';
import { NonFiniteKernelError, type GramStructure } from '../nth/gram.ts';
import { NpyWriter, writeNpy } from '../io/npy.ts';
import { NtkError } from '../parser/diagnostics.ts';
import { assertFinite, diagnosticJson, modelWarnings, nest, OptionError, outputCount, type DiagnosticJson } from './common.ts';
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

/** `ntk jacobian`: Dh(w0) as a k × p nested array, and its shape. */
export interface JacobianReport {
  J: unknown;
  shape: [number, number];
}

/**
 * The report of `ntk jacobian` (forward or reverse mode, or the cheaper: 'auto').
 * @example jacobianReport(loadModel('examples/converse.ntk')).J // [[0.1]]
 */
export function jacobianReport(m: Model, opts: { mode?: 'auto' | 'forward' | 'reverse'; onProgress?: (done: number, total: number) => void } = {}): JacobianReport {
  const J = jacobian(m, m.w0, { mode: opts.mode ?? 'auto', ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  assertFinite('Dh(w0)', J.data, m, 'check the initial weights, and functions whose derivative blows up (sqrt or log near 0)');
  return { J: nest(J.data, [J.rows, J.cols]), shape: [J.rows, J.cols] };
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

/**
 * The report of `ntk kernel`: the kernel of order r at w0 (`kernel`), with a slice's indices
 * checked against the outputs (OptionError) and its entries against NaN (a model error).
 * @example kernelReport(loadModel('examples/converse.ntk'), { order: 3 }).K // 4·(0.1)²·… as a number
 */
export function kernelReport(m: Model, opts: KernelReportOptions): KernelReport {
  const { K, slice } = kernelChecked(m, opts);
  assertFinite(`K^(${opts.order})(w0)`, K.data, m, FINITE_HINT);
  const warning = K.warnings[0] ?? null;
  return { order: opts.order, shape: K.shape, K: nest(K.data, K.shape), slice, structure: K.structure, ...(K.gram ? { gram: K.gram } : {}), ...(warning ? { warnings: [warning] } : {}) };
}

/** The options of `kernelReport` and `kernelFileReport`. */
export interface KernelReportOptions {
  order: number;
  slice?: number[];
  structure?: 'auto' | KernelTensor['structure'];
  onProgress?: (done: number, total: number) => void;
}

const FINITE_HINT = 'check the initial weights and data scale';

/** The kernel of `kernelReport` after the options' checks (OptionError), with `out` passed on. */
function kernelChecked(m: Model, opts: KernelReportOptions, out?: NpyWriter): { K: KernelTensor; slice: number[] } {
  const { order } = opts;
  const slice = opts.slice ?? [];
  const structure = opts.structure ?? 'auto';
  if (structure === 'products' && order !== 2) throw new OptionError(`--structure products (NTK-vector products) computes the NTK: it needs --order 2, not ${order}`);
  if (structure === 'gram' && order !== 2) throw new OptionError(`--structure gram (Gram products) computes the NTK: it needs --order 2, not ${order}`);
  if (slice.length > order - 1) throw new OptionError(`--slice ${slice.join(',')}: a kernel of order ${order} has ${order} indices; fix at most ${order - 1}`);
  const k = outputCount(m);
  const bad = slice.find((a) => a >= k);
  if (bad !== undefined) throw new OptionError(`--slice ${slice.join(',')}: index ${bad} is out of range: the model has ${k} outputs (0..${k - 1})`);
  const K = kernel(m, order, { slice, structure, ...(out ? { out } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  return { K, slice };
}

/**
 * `ntk kernel … --out K.npy`: the kernel written to a `.npy` file (atomically) and its summary
 * instead of its entries. On the Gram path (the NTK of a row-separable model, `nth/gram.ts`) K
 * is streamed into the file panel by panel and never held whole, nor copied: the process holds
 * the per-row factors and one panel. The same keys as `kernelReport` without `K`, plus the file
 * and max |K|, ‖K‖_F and (for a whole NTK) the trace.
 * @example kernelFileReport(loadModel('examples/mlp.ntk'), 'K.npy', { order: 2 }).structure // 'gram'
 */
export function kernelFileReport(m: Model, path: string, opts: KernelReportOptions): KernelFileReport {
  const order = opts.order;
  const whole = order === 2 && (opts.slice ?? []).length === 0;
  const k = outputCount(m);
  // the file of a whole NTK is opened first so that the Gram path can stream into it
  const writer = whole ? NpyWriter.create(path, [k, k]) : null;
  let K: KernelTensor, slice: number[];
  try {
    ({ K, slice } = kernelChecked(m, opts, writer ?? undefined));
    if (!K.streamed) {
      assertFinite(`K^(${order})(w0)`, K.data, m, FINITE_HINT);
      if (writer) writer.write(0, K.data);
    }
    writer?.commit();
  } catch (e) {
    writer?.abort();
    if (e instanceof NonFiniteKernelError)
      throw new NtkError([{ severity: 'error', file: m.file, span: null, message: `K^(${order})(w0) is ${e.value} at entry ${e.index}`, hint: FINITE_HINT }]);
    throw e;
  }
  if (!writer) writeNpy(path, K.shape, K.data);
  let stats = K.stats;
  if (!stats) {
    let maxAbs = 0, fro = 0, trace = 0;
    for (const x of K.data) {
      maxAbs = Math.max(maxAbs, Math.abs(x));
      fro += x * x;
    }
    if (whole) for (let i = 0; i < k; i++) trace += K.data[i * k + i]!;
    stats = { maxAbs, frobenius: Math.sqrt(fro), trace };
  }
  const warning = K.warnings[0] ?? null;
  return {
    order, shape: K.shape, out: path, slice, structure: K.structure, ...(K.gram ? { gram: K.gram } : {}),
    maxAbs: stats.maxAbs, frobenius: stats.frobenius, ...(whole ? { trace: stats.trace } : {}), ...(warning ? { warnings: [warning] } : {}),
  };
}

/** `ntk kernel --out FILE.npy`: where the kernel went and its summary. */
export interface KernelFileReport extends Omit<KernelReport, 'K'> {
  /** The `.npy` file written. */
  out: string;
  /** max |K|, ‖K‖_F over all entries; the trace of a whole NTK. */
  maxAbs: number;
  frobenius: number;
  trace?: number;
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
