/**
 * Worker threads of the studies. The file the process runs from, when it is the bundle: the
 * worker threads (sweep points, the flow's accuracy check) re-enter the same file in worker mode
 * (`runWorkerRole`, called first by the CLI's entry.ts). From the sources (vitest, scripts),
 * there is no bundle to re-enter, and the studies compute in-process instead.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { budgetSource, fmtBytes, memoryBudget, setMemoryBudget } from '../io/memory.ts';

/**
 * The command's bundle (dist/ntk.cjs, a CommonJS file that Node can run as a worker), or null
 * when this module runs from the TypeScript sources or not from a file at all (the browser
 * playground's worker). From the library's bundles (dist/index.js,
 * dist/index.cjs, which have no worker entry) it is their neighbour dist/ntk.cjs, built and
 * shipped with them, so a script's studies get the same worker threads as the command.
 * @example const self = bundleFile(); if (self) startWorker(self, 'sweep', { shared }, { parts: 2, among: '2 workers' });
 */
export function bundleFile(): string | null {
  // Not loaded from a file (a browser's bundle, fetched over http): no bundle to start.
  if (!import.meta.url.startsWith('file:')) return null;
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) return null;
  const command = join(dirname(self), 'ntk.cjs');
  return existsSync(command) ? command : null;
}

/** What a worker thread finds in its process.argv: the sign to look at its workerData. */
const WORKER_ARG = '--ntk-worker';

let workerThreads: typeof import('node:worker_threads') | null = null;

/**
 * node:worker_threads, loaded on first use: it is not in Node's start-up snapshot, and loading
 * it cost every start about 4 ms (`ntk --version` included) when entry.ts imported it to learn
 * whether it ran as a worker.
 * @example const { parentPort } = threads();
 */
export function threads(): typeof import('node:worker_threads') {
  return (workerThreads ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads'));
}

/**
 * A worker thread on `file` (the bundle) in the given role, with `data` as its workerData and a
 * memory budget: its share (1/`share.parts`) of the process's (`memoryBudget`), which the main
 * thread checked for all of them at once; the worker's own checks (a sweep point larger than
 * the first, say) are against that share, named in their messages. The
 * worker compiles the bundle as bin/ntk.js does, with the code cache the build recorded next to
 * it (`file.cache`; V8 rejects one that does not match, and the bundle compiles as usual): its
 * start, to the first message of a flow check, took 103 ms against 151 ms compiling from source
 * (medians of 8), and the check ends after the main solve often enough for that to be the
 * process's wall time.
 * @example const w = startWorker(self, 'flow-check', { job }, { parts: 2, among: 'the flow and its accuracy check' });
 */
export function startWorker(file: string, role: string, data: Record<string, unknown>, share: { parts: number; among: string }): import('node:worker_threads').Worker {
  const total = memoryBudget();
  const budget = { bytes: Math.floor(total / share.parts), source: `its share of ${budgetSource()} (${fmtBytes(total)} shared by ${share.among})` };
  return new (threads().Worker)(workerBoot(file), { eval: true, workerData: { ntk: role, budget, ...data }, argv: [WORKER_ARG] });
}

/** The worker's bootstrap (a CommonJS script): `file` compiled with its code cache, then run. */
function workerBoot(file: string): string {
  return `'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');
const vm = require('node:vm');
const file = ${JSON.stringify(file)};
let cachedData;
try { cachedData = readFileSync(file + '.cache'); } catch { /* no cache: compile from source */ }
const script = new vm.Script('(function (exports, require, module, __filename, __dirname) {\\n' + readFileSync(file, 'utf8') + '\\n})', { filename: file, lineOffset: -1, cachedData });
if (process.env.NTK_CODE_CACHE === 'check') console.error('ntk worker: code cache ' + (cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted'));
const mod = { exports: {} };
script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
`;
}

/**
 * This thread's worker role ('sweep', 'flow-check'), or null on the main thread. The argument
 * alone decides nothing (a user may type it): the thread must also be a worker.
 * @example if (workerRole() === 'sweep') sweepWorker();
 */
export function workerRole(): string | null {
  if (!process.argv.includes(WORKER_ARG)) return null;
  const t = threads();
  return t.isMainThread ? null : ((t.workerData as { ntk?: string } | null)?.ntk ?? null);
}

/**
 * The memory share a worker was started with (`startWorker`), made its budget; on the main
 * thread nothing changes.
 * @example if (workerRole()) adoptWorkerBudget();
 */
export function adoptWorkerBudget(): void {
  const budget = (threads().workerData as { budget?: { bytes: number; source: string } } | null)?.budget;
  if (budget && budget.bytes > 0) setMemoryBudget(budget.bytes, budget.source);
}
