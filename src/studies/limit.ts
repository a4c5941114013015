/**
 * The reports of `ntk limit` and `ntk predict` with their memory check and `--out` files: the
 * kernels of the infinite-width limit (`limitKernels`) and the predictions (`gpPredict`,
 * `ensemblePredict`), as the CLI prints them.
 */
import type { Model } from '../ir/model.ts';
import { limitKernels, limitKernelsDense, type LimitOptions, type LimitReport } from '../nth/limit.ts';
import { writeKernelFiles, LIMIT_KERNEL_KEYS } from '../nth/limit-out.ts';
import type { EnsemblePrediction, GpPrediction } from '../nth/gp-predict.ts';
import type { ResultArray, WrittenFile } from '../io/arrays.ts';
import { checkOut, guardResult, matrixArray, vectorArray, withFiles, type OutOptions } from './out.ts';
import { outputCount } from './common.ts';

/** `ntk limit`'s report: the kernels, or with `out` the files they went to (`files`) instead. */
export type LimitFileReport = Omit<LimitReport, (typeof LIMIT_KERNEL_KEYS)[number]> & Partial<Pick<LimitReport, (typeof LIMIT_KERNEL_KEYS)[number]>> & { files?: WrittenFile[] };

/** Outputs of the training and the test inputs: the sizes of the limit's kernels. */
function sizes(model: Model): { N: number; Nt: number } {
  return { N: outputCount(model), Nt: model.test ? model.test.shape.reduce((a, b) => a * b, 1) : 0 };
}

/**
 * Refuse, before any work, limit kernels that would not fit where they go: NNGP and NTK on the
 * training outputs (N × N), and with a test the test × train and test × test blocks (or their
 * diagonals with `testDiag`).
 * @example guardLimit(model, { testDiag: false }, { json: true })
 */
export function guardLimit(model: Model, opts: { testDiag?: boolean }, o: OutOptions): void {
  const { N, Nt } = sizes(model);
  const values = 2 * (N * N + Nt * N + (opts.testDiag ? Nt : Nt * Nt));
  guardResult('limit', o, { what: `the limit kernels (NNGP and NTK on ${N} training${Nt ? ` and ${Nt} test` : ''} outputs)`, values, smaller: 'fewer inputs, --diag for the test block, or raise --max-memory' });
}

/**
 * `ntk limit`: the NNGP and NTK of the infinite-width limit (`limitKernels`) after the memory
 * check; with `out` the kernels are written (`writeKernelFiles`: K.nngp.npy, K.ntk.npy, …) and
 * the report names the files instead of holding the kernels.
 * @example limitReport(model, { width: ['m'], out: 'K.npy' }).files // [{ key: 'nngp', path: 'K.nngp.npy', shape: [n, n], dtype: 'float64' }, …]
 */
export function limitReport(model: Model, opts: LimitOptions & OutOptions): LimitFileReport {
  if (opts.out) checkOut('limit', opts.out);
  guardLimit(model, opts, opts);
  const out = opts.out;
  if (!out) return limitKernels(model, opts);
  // to files: the kernels as computed, never as arrays of numbers
  const r = limitKernelsDense(model, opts);
  const files = writeKernelFiles(out, r);
  const rest: Record<string, unknown> = { ...r };
  for (const key of LIMIT_KERNEL_KEYS) delete rest[key];
  return { ...(rest as LimitFileReport), files };
}

/**
 * Refuse, before any work, a prediction that would not fit where it goes: the mean and
 * variances at the kt test outputs, their kt × kt covariance (not with `diag`), and with `seeds`
 * each seed's prediction.
 * @example guardPredict(model, { diag: true }, { json: true }) // throws MemoryError when it would not fit
 */
export function guardPredict(model: Model, opts: { diag?: boolean; seeds?: number }, o: OutOptions): void {
  const kt = sizes(model).Nt;
  const values = 2 * kt + (opts.diag ? 0 : kt * kt) + (opts.seeds ?? 0) * kt;
  guardResult('predict', o, { what: `the prediction at ${kt} test outputs${opts.diag ? '' : ' with their covariance'}`, values, smaller: opts.diag ? 'fewer test inputs' : '--diag (variances only), or fewer test inputs' });
}

/**
 * A prediction's arrays written to `out` (`P.mean.npy`, `P.variance.npy`, `P.cov.npy` unless
 * `diag`, and the ensemble's `P.predictions.npy`, seeds × kt); the report names them in `files`.
 * @example predictionFiles(gpPredict(lim, y, { t: Infinity }), 'P.npy').files.map((f) => f.key) // ['mean', 'variance', 'cov']
 */
export function predictionFiles<P extends GpPrediction | EnsemblePrediction>(p: P, out: string) {
  const arrays: (ResultArray & { key: 'mean' | 'variance' | 'cov' | 'predictions' })[] = [vectorArray('mean', p.mean), vectorArray('variance', p.variance)];
  if (p.cov) arrays.push(matrixArray('cov', p.cov));
  if ('predictions' in p) arrays.push(matrixArray('predictions', (p as EnsemblePrediction).predictions));
  return withFiles('predict', out, p, arrays);
}
