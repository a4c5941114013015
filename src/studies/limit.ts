/**
 * The reports of `ntk limit` and `ntk predict` with their memory check and `--out` files: the
 * kernels of the infinite-width limit (`limitKernels`) and the predictions (`gpPredict`,
 * `ensemblePredict`), as the CLI prints them.
 */
import type { Model } from '../ir/model.ts';
import { limitKernels, limitKernelsDense, LIMIT_KERNEL_KEYS, type LimitOptions, type LimitReport } from '../nth/limit.ts';
import { writeKernelFiles } from '../nth/limit-out.ts';
import { ensembleWorkingSet, gpPredictWorkingSet, type EnsemblePrediction, type GpPrediction } from '../nth/gp-predict.ts';
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
export function guardLimit(model: Model, opts: { testDiag?: boolean }, o: OutOptions, working = 0): void {
  const { N, Nt } = sizes(model);
  const values = 2 * (N * N + Nt * N + (opts.testDiag ? Nt : Nt * Nt));
  guardResult('limit', o, {
    what: `the limit kernels (NNGP and NTK on ${N} training${Nt ? ` and ${Nt} test` : ''} outputs)${working ? ' and their derivation' : ''}`, values, working,
    smaller: `fewer inputs${Nt && !opts.testDiag ? ', --diag for the test block' : ''}, or raise --max-memory`,
  });
}

/**
 * `limitKernels`'s options with the whole memory check of `ntk limit`: before the derivation
 * allocates, its working set (`LimitOptions.checkWorkingSet`) and the kernels where they go.
 */
function checked<O extends LimitOptions>(model: Model, opts: O, o: OutOptions): O {
  return { ...opts, checkWorkingSet: (bytes: number) => guardLimit(model, opts, o, bytes) };
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
  const all = checked(model, opts, opts);
  if (!out) return limitKernels(model, all);
  // to files: the kernels as computed, never as arrays of numbers
  const r = limitKernelsDense(model, all);
  const files = writeKernelFiles(out, r);
  const rest: Record<string, unknown> = { ...r };
  for (const key of LIMIT_KERNEL_KEYS) delete rest[key];
  return { ...(rest as LimitFileReport), files };
}

/**
 * Refuse, before any work, a prediction that would not fit where it goes: the mean and
 * variances at the kt test outputs, their kt × kt covariance (not with `diag`), and with `seeds`
 * each seed's prediction — with the buffers of computing it: the finite-width ensemble's
 * (`ensembleWorkingSet`: Jacobians, kernels), or the GP's (`gpPredictWorkingSet`) next to the
 * limit kernels it reads (`working`: the derivation's working set, once `limitKernels` has
 * counted it, `predictChecks`).
 * @example guardPredict(model, { diag: true }, { json: true }) // throws MemoryError when it would not fit
 */
export function guardPredict(model: Model, opts: { diag?: boolean; seeds?: number }, o: OutOptions, working = 0): void {
  const { N, Nt: kt } = sizes(model);
  const values = 2 * kt + (opts.diag ? 0 : kt * kt) + (opts.seeds ?? 0) * kt;
  const seeds = opts.seeds ?? 0;
  // the limit kernels as computed (8 bytes a value), their derivation's arrays and the GP's
  // buffers: the derivation's are garbage by then, but not yet collected when the GP's are made
  // (measured)
  const limitRows = 8 * 2 * (N * N + kt * N + (opts.diag ? kt : kt * kt));
  const buffers = seeds > 0 ? ensembleWorkingSet(N, kt, model.paramCount, seeds) : limitRows + working + gpPredictWorkingSet(N, kt, opts.diag === true);
  const fewer = seeds > 0 ? 'fewer inputs or parameters (--set)' : 'fewer training or test inputs';
  guardResult('predict', o, {
    what: `the prediction at ${kt} test outputs${opts.diag ? '' : ' with their covariance'}${seeds > 0 ? ` (${seeds} seeds)` : ' from the limit kernels'}`, values, working: buffers,
    smaller: `${opts.diag ? '' : '--diag (variances only), or '}${fewer}, or raise --max-memory`,
  });
}

/**
 * `limitKernels`'s options for `ntk predict`: the whole memory check (`guardPredict`) with the
 * derivation's working set, before the derivation allocates.
 * @example gpPredict(limitKernels(model, predictChecks(model, { width: ['m'], testDiag: true }, {})), y, { t: Infinity, diag: true })
 */
export function predictChecks<O extends LimitOptions>(model: Model, opts: O, o: OutOptions): O {
  return { ...opts, checkWorkingSet: (bytes: number) => guardPredict(model, { diag: opts.testDiag === true }, o, bytes) };
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
