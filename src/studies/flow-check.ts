/**
 * The flow's accuracy check on a worker thread. `ntk flow` reports the achieved accuracy of
 * E(T) from a second, looser solve (`FlowOptions.check`); that solve shares nothing with the
 * main one but the model, so it runs on the other core while the main thread estimates the
 * Lipschitz constants and integrates the flow. The worker runs this same bundled file
 * (dist/ntk.cjs, see entry.ts) and elaborates the model from the AST the main thread parsed
 * (building chevrotain's parser would add ~25 ms to its start-up); from the TypeScript sources
 * (the tests, scripts) there is no bundle to start, and `flowStudy` runs the check inline.
 */
import { bundleFile, startWorker, threads } from './threads.ts';
import { flow, type FlowMethod } from '../dynamics/flow.ts';
import { elaborate } from '../ir/elaborate.ts';
import { withRates } from '../ir/rates.ts';
import type { Program } from '../parser/ast.ts';
import { capNativeThreads } from '../runtime/backend-native.ts';

/**
 * What the worker needs: the model's AST as the main thread parsed it (plain data, elaborated
 * again there: the worker never builds a parser) with its overrides and seed, and the flow's
 * options.
 */
export interface FlowCheckJob {
  program: Program;
  overrides: [string, number][];
  seed: number;
  alpha: number;
  T: number;
  rtol: number | undefined;
  method: FlowMethod;
  /** Per-parameter rates (`--lr W=η1,…`): the model is reparametrized by `withRates` first. */
  rates?: [string, number][];
  /** The main solve's limits (`--max-steps`, `--max-time`), which the check keeps too. */
  maxSteps?: number;
  maxTime?: number;
}

/** The check's outcome: E(T) at the check tolerance and the method it took, or why it failed. */
export type FlowCheckResult = { error: number; method: Exclude<FlowMethod, 'auto'> } | { failure: string };

/**
 * Start the check on a worker thread; null when the CLI is not running from its bundle.
 * `cancel` stops it (when the main solve failed: the process must not wait for it).
 * @example const pending = startFlowCheck(job); … const c = pending && (await pending.result);
 */
export function startFlowCheck(job: FlowCheckJob): { result: Promise<FlowCheckResult>; cancel: () => void } | null {
  const self = bundleFile();
  if (!self) return null;
  // half the budget: the flow's memory check counted two solves, the flow and this one
  const w = startWorker(self, 'flow-check', { job }, { parts: 2, among: 'the flow and its accuracy check' });
  // two JS threads computing: one BLAS thread each until the check is done
  capNativeThreads(1);
  const result = new Promise<FlowCheckResult>((resolve) => {
    let settled = false;
    const done = (r: FlowCheckResult) => {
      if (settled) return;
      settled = true;
      capNativeThreads(Infinity);
      resolve(r);
      void w.terminate();
    };
    w.on('message', done);
    w.on('error', (e: Error) => done({ failure: e.message }));
    w.on('exit', () => done({ failure: 'the worker exited early' }));
  });
  return { result, cancel: () => void w.terminate() };
}

/** The worker side: one check solve, posted back. */
export function flowCheckWorker(): void {
  const { workerData, parentPort } = threads();
  const { job } = workerData as { job: FlowCheckJob };
  capNativeThreads(1);
  try {
    const plain = elaborate(job.program, { overrides: new Map(job.overrides), seed: job.seed });
    const model = job.rates ? withRates(plain, new Map(job.rates)) : plain;
    const r = flow(model, { alpha: job.alpha, T: job.T, ...(job.rtol === undefined ? {} : { rtol: job.rtol }), method: job.method, check: true,
      ...(job.maxSteps === undefined ? {} : { maxSteps: job.maxSteps }), ...(job.maxTime === undefined ? {} : { maxTime: job.maxTime }) });
    parentPort!.postMessage({ error: r.error, method: r.method } satisfies FlowCheckResult);
  } catch (e) {
    parentPort!.postMessage({ failure: (e as Error).message } satisfies FlowCheckResult);
  }
}
