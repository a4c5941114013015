/**
 * The studies' worker threads, by role: the bundle re-entered on a worker thread runs the role
 * it was started in (`threads.ts: startWorker`) instead of the command line.
 */
import { adoptWorkerBudget, workerRole } from './threads.ts';
import { sweepWorker } from './sweep.ts';
import { flowCheckWorker } from './flow-check.ts';

/**
 * Run this thread's worker role ('sweep': grid points; 'flow-check': the flow's accuracy check)
 * and return true, or return false on the main thread (or a thread that is not the studies').
 * @example if (!runWorkerRole()) runCli(process.argv.slice(2));
 */
export function runWorkerRole(): boolean {
  const role = workerRole();
  if (role === 'sweep' || role === 'flow-check') adoptWorkerBudget();
  if (role === 'sweep') sweepWorker();
  else if (role === 'flow-check') flowCheckWorker();
  else return false;
  return true;
}
