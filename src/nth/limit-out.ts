/**
 * Writing the limit kernels to files: `K.npy` → `K.nngp.npy`, `K.ntk.npy`, and with a test
 * `K.nngpCross.npy`, `K.ntkCross.npy`, `K.nngpTest.npy`, `K.ntkTest.npy` (likewise `.csv` and
 * `.json`, the formats of io/arrays.ts). Kernels without a finite limit are not written. The
 * files are written row by row from the report's kernels and committed together (atomically).
 */
import { writeArrays, type WrittenFile } from '../io/arrays.ts';
import type { LimitReport } from './limit.ts';

/**
 * The report keys of the limit's kernels, in the order they are written.
 * @example LIMIT_KERNEL_KEYS[1] // 'ntk'
 */
export const LIMIT_KERNEL_KEYS = ['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest'] as const;

/**
 * Write the report's kernels next to `path` (see the module comment); returns the files written.
 * @example writeKernelFiles('out/K.npy', limitKernels(model, { width: ['m'] })).map((f) => f.path)  // ['out/K.nngp.npy', 'out/K.ntk.npy']
 */
export function writeKernelFiles(path: string, r: LimitReport): WrittenFile[] {
  const arrays = LIMIT_KERNEL_KEYS.filter((key) => r[key]).map((key) => {
    const K = r[key]!;
    return {
      key, shape: [K.length, K[0]?.length ?? 0],
      data: (function* () {
        for (const row of K) yield Float64Array.from(row);
      })(),
    };
  });
  return writeArrays(path, arrays, false);
}
