/**
 * Large Float64Arrays on huge pages.
 *
 * The first write to each 4 kB page of a fresh array is a page fault. On the virtual machines
 * this project runs on, a fault costs ~10 µs, so merely filling a fresh 2000 × 2000 kernel
 * (32 MB, 8192 pages) once took ~100 ms, against 3 ms for the same loop over the same array a
 * second time: the infinite-width recursion, which makes a few dozen such matrices, spent more
 * time in faults than in arithmetic. A large array is calloc'd by V8 into fresh, untouched
 * memory; advising its 2 MB-aligned interior for transparent huge pages (the native addon's
 * `adviseHuge`, madvise MADV_HUGEPAGE) makes 512 times fewer faults: the same first fill takes
 * ~11 ms. The memory stays V8's, allocated and freed as any array's. Where the addon is absent
 * or cannot (not Linux, THP disabled), the pages are ordinary and nothing else changes.
 */
import { nativeAddon } from './backend-native.ts';

/** Below this many bytes, no advice: a huge page is 2 MB, and small arrays reuse V8's pages. */
export const HUGE_MIN_BYTES = 4 << 20;

/**
 * `new Float64Array(n)` (zeroed), its interior advised for huge pages when it is at least
 * `HUGE_MIN_BYTES` and the native addon can.
 * @example const K = zerosF64(2000 * 2000); // 32 MB, first filled in ~11 ms instead of ~100 ms
 */
export function zerosF64(n: number): Float64Array {
  const a = new Float64Array(n);
  if (n * 8 >= HUGE_MIN_BYTES) nativeAddon()?.adviseHuge?.(a);
  return a;
}
