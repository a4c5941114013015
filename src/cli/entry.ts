/**
 * Entry point of the `ntk` binary (bundled to dist/ntk.cjs by scripts/build.mjs). The same file
 * runs the CLI's worker threads (bundle.ts: startWorker): sweep points (role 'sweep') and the
 * flow's accuracy check ('flow-check'); and loaded by scripts/snapshot.cjs, it prepares the
 * start-up snapshot (snapshot.ts) instead of running.
 */
import { main } from './main.ts';
import { sweepWorker } from './sweep.ts';
import { flowCheckWorker } from './flow-check.ts';
import { workerRole } from './bundle.ts';
import { buildingSnapshot, prepareSnapshot } from './snapshot.ts';

/** The command line with these arguments (the user's, without node and the script). */
function runCli(argv: string[]): void {
  // `ntk … | head`: once the reader has gone there is nobody to tell anything; stop quietly
  // (exit code 0 like other Unix tools under a closed pipe), not with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  main(argv).then((code) => {
    process.exitCode = code;
  });
}

const role = workerRole();
if (role === 'sweep') {
  sweepWorker();
} else if (role === 'flow-check') {
  flowCheckWorker();
} else if (buildingSnapshot()) {
  prepareSnapshot(runCli);
} else {
  runCli(process.argv.slice(2));
}
