/**
 * The file the CLI runs from, when it is the bundle: the worker threads (sweep points, the
 * flow's accuracy check) re-enter the same file in worker mode (see entry.ts). From the sources
 * (vitest), there is no bundle to re-enter, and the callers compute in-process instead.
 */
import { fileURLToPath } from 'node:url';

/**
 * The bundle's path (dist/ntk.cjs, a CommonJS file that Node can run as a worker), or null when
 * this module runs from the TypeScript sources.
 * @example const self = bundleFile(); if (self) new Worker(self, { workerData: { ntk: 'sweep' } });
 */
export function bundleFile(): string | null {
  const self = fileURLToPath(import.meta.url);
  return self.endsWith('.cjs') ? self : null;
}
