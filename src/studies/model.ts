/**
 * The reports of the commands that look at a model at w0: `check`, `eval`, `jacobian`, `kernel`,
 * `derive` and `print`. Each returns the object `ntk COMMAND --json` prints, under the same keys
 * (tensors as nested arrays); the CLI formats its summary from the same object.
 */
import type { Model } from '../ir/model.ts';
import { evaluate, evaluateTest, testLoss, loss, jacobian, kernel, describeKernel, printModel } from '../api.ts';
import { nonSmoothWarning, type KernelTensor } from '../nth/hierarchy.ts';
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
  warnings?: string[];
}

/**
 * The report of `ntk kernel`: the kernel of order r at w0 (`kernel`), with a slice's indices
 * checked against the outputs (OptionError) and its entries against NaN (a model error).
 * @example kernelReport(loadModel('examples/converse.ntk'), { order: 3 }).K // 4·(0.1)²·… as a number
 */
export function kernelReport(m: Model, opts: { order: number; slice?: number[]; structure?: 'auto' | KernelTensor['structure']; onProgress?: (done: number, total: number) => void }): KernelReport {
  const { order } = opts;
  const slice = opts.slice ?? [];
  const structure = opts.structure ?? 'auto';
  if (structure === 'products' && order !== 2) throw new OptionError(`--structure products (NTK-vector products) computes the NTK: it needs --order 2, not ${order}`);
  if (slice.length > order - 1) throw new OptionError(`--slice ${slice.join(',')}: a kernel of order ${order} has ${order} indices; fix at most ${order - 1}`);
  const k = outputCount(m);
  const bad = slice.find((a) => a >= k);
  if (bad !== undefined) throw new OptionError(`--slice ${slice.join(',')}: index ${bad} is out of range: the model has ${k} outputs (0..${k - 1})`);
  const K = kernel(m, order, { slice, structure, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  assertFinite(`K^(${order})(w0)`, K.data, m, 'check the initial weights and data scale');
  const warning = K.warnings[0] ?? null;
  return { order, shape: K.shape, K: nest(K.data, K.shape), slice, structure: K.structure, ...(warning ? { warnings: [warning] } : {}) };
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
