/**
 * Writing the limit kernels to files: `K.npy` → `K.nngp.npy`, `K.ntk.npy`, and with a test
 * `K.nngpCross.npy`, `K.ntkCross.npy`, `K.nngpTest.npy`, `K.ntkTest.npy` (likewise `.csv` and
 * `.json`, the formats of io/arrays.ts). Kernels without a finite limit are not written. The
 * files are written row by row, as views of the kernels as computed (no copy), and committed
 * together (atomically).
 */
import { writeArrays, type WrittenFile } from '../io/arrays.ts';
import { LIMIT_KERNEL_KEYS, type LimitDense } from './limit.ts';

/**
 * Write the report's kernels next to `path` (see the module comment); returns the files written.
 * @example writeKernelFiles('out/K.npy', limitKernelsDense(model, { width: ['m'] })).map((f) => f.path)  // ['out/K.nngp.npy', 'out/K.ntk.npy']
 */
export function writeKernelFiles(path: string, r: LimitDense): WrittenFile[] {
  const arrays = LIMIT_KERNEL_KEYS.filter((key) => r[key]).map((key) => {
    const K = r[key]!;
    return {
      key, shape: [K.rows, K.cols],
      data: (function* () {
        for (let i = 0; i < K.rows; i++) yield K.data.subarray(i * K.cols, (i + 1) * K.cols);
      })(),
    };
  });
  return writeArrays(path, arrays, false);
}
