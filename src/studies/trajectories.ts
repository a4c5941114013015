/**
 * The arrays of `ntk flow`, `ntk flow --lr η --steps N` and `ntk early` written to files
 * (`--out`): each trajectory as a table (one row per reported time or step, one column per
 * quantity — the CSV names them in its header line) and the final outputs as vectors. The
 * files are `<stem>.trajectory.<ext>`, `<stem>.out.<ext>`, `<stem>.linOut.<ext>` (and the test
 * outputs'), as `studies/out.ts` names them.
 */
import type { FlowReport, DescentReport } from './flow.ts';
import type { EarlyResult } from '../nth/early.ts';
import type { ResultArray } from '../io/arrays.ts';
import { guardResult, tableArray, vectorArray, withFiles, type OutOptions } from './out.ts';

/**
 * The columns of a flow's or a descent's trajectory (`FlowPoint`).
 * @example FLOW_COLUMNS[1] // 'error'
 */
export const FLOW_COLUMNS = ['t', 'error', 'weightChange', 'linWeightChange'] as const;
/**
 * The columns of `early`'s trajectory (`EarlyRow`); the test ones only with held-out inputs.
 * @example EARLY_COLUMNS.length // 10
 */
export const EARLY_COLUMNS = ['step', 'trainGap', 'testGap', 'loss', 'linLoss', 'testLoss', 'linTestLoss', 'gapNorm', 'epsilon', 'bound'] as const;

/**
 * The flow's trajectory and outputs written to `out`; the report names them in `files`.
 * @example flowFiles(await flowStudy(m, { alpha: 4, T: 100, plotTimes: true }), 'F.csv').files.map((f) => f.path) // ['F.trajectory.csv', 'F.out.csv', 'F.linOut.csv']
 */
export function flowFiles(r: FlowReport, out: string) {
  type Key = 'trajectory' | 'out' | 'linOut' | 'testOut' | 'linTestOut';
  const arrays: (ResultArray & { key: Key })[] = [tableArray('trajectory', r.trajectory, FLOW_COLUMNS), vectorArray('out', r.out), vectorArray('linOut', r.linOut)];
  if (r.testOut) arrays.push(vectorArray('testOut', r.testOut), vectorArray('linTestOut', r.linTestOut!));
  return withFiles('flow', out, r, arrays);
}

/**
 * Gradient descent's trajectory and outputs written to `out` (`files` in the report).
 * @example descentFiles(descentReport(m, { alpha: 4, lr: 0.1, steps: 50 }), 'D.npy').files.length // 3
 */
export function descentFiles(r: DescentReport, out: string) {
  return withFiles('descent', out, r, [tableArray('trajectory', r.trajectory, FLOW_COLUMNS), vectorArray('out', r.out), vectorArray('linOut', r.linOut)]);
}

/**
 * Refuse, before the run, a trajectory of `early` that would not fit where it goes: a row every
 * `every` steps, each an object of eleven numbers (counted as twelve values).
 * @example guardEarly({ steps: 1e9, every: 1 }, {}) // throws MemoryError: a larger --every
 */
export function guardEarly(o: { steps: number; every: number }, out: OutOptions): void {
  const rows = Math.floor(o.steps / o.every) + 2;
  guardResult('early', out, { what: `the trajectory (${rows} rows)`, values: rows * (EARLY_COLUMNS.length + 2), smaller: 'a larger --every (fewer rows)' });
}

/**
 * `early`'s trajectory and both models' final outputs written to `out` (`files` in the report);
 * the test columns only with held-out inputs.
 * @example earlyFiles(early(m, { lr: { W: 1 }, steps: 100, every: 10 }), 'E.csv').files[0].columns // ['step', 'trainGap', 'loss', …]
 */
export function earlyFiles<R extends Pick<EarlyResult, 'trajectory' | 'out' | 'linOut'>>(r: R, out: string) {
  const test = r.trajectory[0]?.testGap != null;
  const columns = EARLY_COLUMNS.filter((c) => test || !['testGap', 'testLoss', 'linTestLoss'].includes(c));
  return withFiles('early', out, r, [tableArray('trajectory', r.trajectory, columns), vectorArray('out', r.out), vectorArray('linOut', r.linOut)]);
}
