/**
 * Entry point of the `ntk` binary (bundled to dist/ntk.cjs by scripts/build.mjs). The same file
 * runs the studies' worker threads (src/studies/threads.ts: startWorker): sweep points (role 'sweep') and the
 * flow's accuracy check ('flow-check'); and loaded by scripts/snapshot.cjs, it prepares the
 * start-up snapshot (snapshot.ts) instead of running.
 */
import { main } from './main.ts';
import { runWorkerRole } from '../index.ts';
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

if (runWorkerRole()) {
  // a worker thread of a study (a sweep's points, the flow's accuracy check): it has run
} else if (buildingSnapshot()) {
  prepareSnapshot(runCli);
} else {
  runCli(process.argv.slice(2));
}
