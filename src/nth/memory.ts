/**
 * The hierarchy's memory policy: how many bytes a kernel may take (the one memory budget of
 * io/memory.ts — --max-memory, or half the available memory — at most MAX_RESULT_BYTES), the refusal of a kernel or slice that would not fit (naming the slice that
 * would), and when the NTK comes from NTK-vector products instead of the Jacobian.
 */
import type { Evaluator } from '../evaluator/evaluator.ts';
import { denseNtkBytes } from './ntk.ts';
import { fmtBytes, MemoryError, resultLimit } from '../runtime/memory.ts';

export { fmtBytes };

/**
 * Bytes we allow for a kernel: the memory budget (--max-memory, or half the available memory),
 * at most MAX_RESULT_BYTES.
 * @example checkKernelMemory(k, r, 0, memoryLimit())
 */
export function memoryLimit(): number {
  return resultLimit();
}

/**
 * Refuse a kernel of order r whose slice (j fixed indices) would not fit in `limit` bytes,
 * naming the size and the smallest slice that fits: its result, k^(r−j) values, and — when
 * `workFits` is given (`kernelTensor` passes the evaluation's working set for one block) —
 * the buffers of computing it, so that the slice suggested is one that is then accepted.
 * @example checkKernelMemory(64, 6, 0, 2 ** 30)   // throws MemoryError: 64⁶ entries need 512 GB; try a slice
 */
export function checkKernelMemory(k: number, r: number, fixed: number, limit: number, workFits: (fixed: number) => boolean | null = () => true): void {
  const entries = k ** (r - fixed);
  const bytes = entries * 8;
  if (bytes <= limit) return;
  const resultFits = (j: number) => k ** (r - j) * 8 <= limit;
  // workFits: true, false, or null when it could not be checked (then the slice is suggested on
  // the result's size alone, saying so)
  let j = fixed, fits: boolean | null = false;
  for (; j <= r - 1 && fits === false; j++) fits = resultFits(j) && workFits(j);
  j--;
  const unchecked = fits === null;
  throw new MemoryError(
    `K^(${r}) ${fixed ? `with ${fixed} fixed indices ` : ''}has ${k}^${r - fixed} = ${entries.toExponential(3)} entries (${fmtBytes(bytes)}), more than the ${fmtBytes(limit)} available` +
      (fits !== false
        ? `; compute slices instead: ${j === 1 ? '--slice a1 fixes the first index' : `--slice a1,…,a${j} fixes the first ${j} indices`} (0-based) and leaves ${k}^${r - j} entries (${fmtBytes(k ** (r - j) * 8)}), e.g. --slice ${Array(j).fill(0).join(',')}${unchecked ? ` (its graph is too large to check here whether computing it fits too)` : ''}`
        : `; even one slice K^(${r})(a1..a${r - 1}, ·) is too large${resultFits(r - 1) ? ' to compute (its graph or the buffers of its evaluation)' : ''}: raise --max-memory, or take a smaller model`),
  );
}

/**
 * Whether the NTK should come from NTK-vector products rather than the Jacobian: when J (k·p
 * values) would not fit in `limit` bytes, or when the products' flop count is lower.
 */
export function productsPreferred(ev: Evaluator, limit: number): boolean {
  // J and K = J·Jᵀ are held together, and J's blocks while it is computed
  if (denseNtkBytes(ev.k, ev.p) > limit) return true;
  const { dense, products } = ev.ntkFlops();
  return products < dense;
}

/** 2k²p above which K^(2) of a row-separable model takes the structured path (≈ 0.1 s of GEMM). */
export const STRUCTURED_K2_FLOPS = 2e8;

/** Refuse a mixed kernel [k1, k, …, k] (first index over k1 test outputs) that would not fit. */
export function checkMixedMemory(k1: number, k: number, r: number, fixed: number, limit: number): void {
  const entries = (fixed === 0 ? k1 : 1) * k ** (r - Math.max(fixed, 1));
  if (entries * 8 <= limit) return;
  throw new MemoryError(
    `the mixed kernel K^(${r})(x, …) has ${entries.toExponential(3)} entries (${fmtBytes(entries * 8)}), more than the ${fmtBytes(limit)} available; fix leading indices with a slice (the first one a test output)`,
  );
}

