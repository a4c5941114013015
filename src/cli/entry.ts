#!/usr/bin/env node
/**
 * Entry point of the `ntk` binary (bundled to dist/ntk.js by scripts/build.mjs). The same file
 * runs sweep workers: a worker thread started with workerData { ntk: 'sweep' }.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { main } from './main.ts';
import { sweepWorker } from './sweep.ts';

if (!isMainThread && (workerData as { ntk?: string } | null)?.ntk === 'sweep') {
  sweepWorker();
} else {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
