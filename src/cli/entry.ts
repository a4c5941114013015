/**
 * Entry point of the `ntk` binary (bundled to dist/ntk.cjs by scripts/build.mjs). The same file
 * runs the CLI's worker threads (bundle.ts: startWorker): sweep points (role 'sweep') and the
 * flow's accuracy check ('flow-check').
 */
import { main } from './main.ts';
import { sweepWorker } from './sweep.ts';
import { flowCheckWorker } from './flow-check.ts';
import { workerRole } from './bundle.ts';

const role = workerRole();
if (role === 'sweep') {
  sweepWorker();
} else if (role === 'flow-check') {
  flowCheckWorker();
} else {
  // `ntk … | head`: once the reader has gone there is nobody to tell anything; stop quietly
  // (exit code 0 like other Unix tools under a closed pipe), not with a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
