/**
 * Writing the limit kernels to files: `K.npy` → `K.nngp.npy`, `K.ntk.npy`, and with a test
 * `K.nngpCross.npy`, `K.ntkCross.npy`, `K.nngpTest.npy`, `K.ntkTest.npy` (likewise `.csv`:
 * one row per line, 17 significant digits). Kernels without a finite limit are not written.
 * Every file is written atomically.
 */
import { saveNpy } from '../io/data.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { LimitReport } from './limit.ts';

const KEYS = ['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest'] as const;

/**
 * Write the report's kernels next to `path` (see the module comment); returns the files written.
 * @example writeKernelFiles('out/K.npy', limitKernels(model, { width: ['m'] }))  // ['out/K.nngp.npy', 'out/K.ntk.npy']
 */
export function writeKernelFiles(path: string, r: LimitReport): string[] {
  const m = /^(.*)\.(npy|csv)$/.exec(path);
  if (!m) throw new Error(`internal: --out ${path} is neither .npy nor .csv`);
  const [, stem, ext] = m;
  const files: string[] = [];
  for (const key of KEYS) {
    const K = r[key];
    if (!K) continue;
    const file = `${stem}.${key}.${ext}`;
    const rows = K.length, cols = K[0]?.length ?? 0;
    if (ext === 'npy') {
      const data = new Float64Array(rows * cols);
      K.forEach((row, r) => data.set(row, r * cols));
      saveNpy(file, { shape: [rows, cols], data });
    }
    else writeFileAtomic(file, K.map((row) => row.map((x) => x.toPrecision(17)).join(',')).join('\n') + '\n');
    files.push(file);
  }
  return files;
}
